package io.psgivassal.emperor.api;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;

/**
 * Where a vassal is in its life cycle. {@link #canMoveTo} holds every move the Emperor makes;
 * the engine checks every transition against it.
 */
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

  /**
   * The moves out of each state (staying put is always allowed). Kept as one table so that a new
   * path through the life cycle is a decision here, not a side effect of some handler.
   */
  private static final Map<VassalState, EnumSet<VassalState>> MOVES = new EnumMap<>(VassalState.class);

  static {
    // a death leads to a respawn (or its throttle), the socket again, or an idle stop
    MOVES.put(DEAD, EnumSet.of(SPAWNING, ADOPTING, ON_DEMAND, THROTTLED, IDLE));
    // every wait ends in a start (the wait is over, the config changed, a connection came) or the Emperor stops
    MOVES.put(THROTTLED, EnumSet.of(SPAWNING, ADOPTING, ON_DEMAND, DEAD));
    MOVES.put(IDLE, EnumSet.of(SPAWNING, ADOPTING, ON_DEMAND, DEAD));
    MOVES.put(ON_DEMAND, EnumSet.of(SPAWNING, ADOPTING, DEAD));
    // a start may begin again (changed config: spawned or adopted now), go back to its socket, fail
    // before a process can be watched, or end as its predecessor's return (the next generation never ran)
    EnumSet<VassalState> fromStart = EnumSet.of(SPAWNING, ADOPTING, RUNNING, ON_DEMAND, DEAD, ACCEPTING, LOYAL);
    MOVES.put(SPAWNING, fromStart);
    MOVES.put(ADOPTING, fromStart);
    // a process reports forward, reloads in place (RUNNING), is stopped, dies, or a next generation
    // starts beside it; ACCEPTING or LOYAL backwards only when a predecessor takes over again
    MOVES.put(RUNNING, EnumSet.of(READY, ACCEPTING, LOYAL, STOPPING, DEAD, SPAWNING, ADOPTING));
    MOVES.put(READY, EnumSet.of(RUNNING, ACCEPTING, LOYAL, STOPPING, DEAD, SPAWNING, ADOPTING));
    MOVES.put(ACCEPTING, EnumSet.of(RUNNING, LOYAL, STOPPING, DEAD, SPAWNING, ADOPTING));
    MOVES.put(LOYAL, EnumSet.of(RUNNING, ACCEPTING, STOPPING, DEAD, SPAWNING, ADOPTING));
    // a process on its way out only dies, unless it was a next generation and its predecessor serves on
    MOVES.put(STOPPING, EnumSet.of(ACCEPTING, LOYAL, DEAD));
  }

  /** Whether the life cycle has a move from this state to {@code next}. */
  public boolean canMoveTo(VassalState next) {
    return next == this || MOVES.get(this).contains(next);
  }

  /** Whether moving from this state to {@code next} is progress worth reporting. */
  public boolean isBefore(VassalState next) {
    return ordinal() < next.ordinal();
  }

  /** RUNNING, READY, ACCEPTING or LOYAL: a process that is not being stopped. */
  public boolean isUp() {
    return this == RUNNING || this == READY || this == ACCEPTING || this == LOYAL;
  }
}
