package io.psgivassal.emperor.api;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * Something that happened to a vassal, as delivered to {@link VassalListener}s.
 *
 * @param pid the process concerned, 0 when there is none (e.g. REMOVED of a vassal waiting on its socket)
 * @param adopted whether that process came from a fork server
 * @param status how it ended, for DIED
 * @param throttle how long the Emperor waits before the next start, for BLACKLISTED
 * @param detail a human-readable reason (what was sent, why it was cursed, ...), may be empty
 */
public record VassalEvent(Type type, String vassal, int pid, boolean adopted, Optional<ExitStatus> status,
    Optional<Duration> throttle, String detail, Instant at) {

  public enum Type {
    /** A process exists for the vassal (spawned, or adopted from a fork server). */
    SPAWNED,
    /** It sent 1. */
    READY,
    /** It sent 5. */
    ACCEPTING,
    /** It sent 17. */
    LOYAL,
    /** It sent no heartbeat for the heartbeat timeout after its first one: it is being killed. */
    HEARTBEAT_MISSED,
    /** Its config changed: the Emperor sent it 1 (reload). */
    RELOAD_SENT,
    /** The Emperor condemned it: sent it 0 or 2, or its pipe closed; SIGKILL follows after the reload mercy. */
    CURSED,
    /** The process exited; {@link #status()} says how. */
    DIED,
    /** Like SPAWNED, for any start after the first; sent right after the SPAWNED event. */
    RESPAWNED,
    /** It died before it was loyal; {@link #throttle()} says when it is tried again. */
    BLACKLISTED,
    /** Its config is gone and so is its process: the Emperor forgot it. */
    REMOVED,
    /** A base vassal's new generation starts (its config changed, or Emperor.deploy): a deploy begins. */
    DEPLOY_STARTED,
    /** The new base generation died before its fork server was ready: the old one keeps adopting. */
    DEPLOY_FAILED,
    /** Every vassal of the base's fork server runs the new generation; the detail gives the counts. */
    DEPLOY_FINISHED
  }
}
