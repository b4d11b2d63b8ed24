package io.psgivassal.emperor.core;

/** Where a vassal is in its life cycle. */
public enum VassalState {
  /** Being started with posix_spawn (or its start hook runs, or a failed spawn waits to be retried). */
  SPAWNING,
  /** Waiting for, or talking to, its fork server (waits as long as the fork server is down). */
  ADOPTING,
  /** The process exists and is watched; it has not reported anything yet (or is reloading). */
  RUNNING,
  /** Sent 1: its master has spawned the workers. */
  READY,
  /** Sent 5: a worker accepts requests. */
  ACCEPTING,
  /** Sent 17: it served its first request. */
  LOYAL,
  /** Told to stop (0 or 2), or cursed; SIGKILL follows when the reload mercy runs out. */
  STOPPING,
  /** No process; waits a moment before it is respawned. */
  DEAD,
  /** Died before it was loyal: blacklisted, waits out its throttle before it is respawned. */
  THROTTLED,
  /** An on-demand vassal with no process: the Emperor waits for a connection on its socket. */
  ON_DEMAND,
  /** Stopped because it said it was idle (22); starts again when its config changes. */
  IDLE;

  /** Whether moving from this state to {@code next} is progress worth reporting. */
  boolean isBefore(VassalState next) {
    return ordinal() < next.ordinal();
  }

  /** RUNNING, READY, ACCEPTING or LOYAL: a process that is not being stopped. */
  public boolean isUp() {
    return this == RUNNING || this == READY || this == ACCEPTING || this == LOYAL;
  }
}
