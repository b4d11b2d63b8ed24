package io.psgivassal.emperor.core;

/** Life cycle of one vassal instance, in the order it normally goes through. */
public enum VassalState {
  /** Being started with posix_spawn (or waiting to retry a failed spawn). */
  SPAWNING,
  /** Requested from the fork server; waiting for its pid reply (or to retry). */
  ADOPTING,
  /** The process exists and is watched; it has not reported anything yet. */
  RUNNING,
  /** Sent 1: its master has spawned the workers. */
  READY,
  /** Sent 5: a worker accepts requests. */
  ACCEPTING,
  /** Sent 17: it served its first request. */
  LOYAL,
  /** Told to stop (byte 0) or killed; waiting for its exit. */
  STOPPING,
  /** Exited; may be respawned. */
  DEAD;

  /** Whether moving from this state to {@code next} is progress worth reporting. */
  boolean isBefore(VassalState next) {
    return ordinal() < next.ordinal();
  }
}
