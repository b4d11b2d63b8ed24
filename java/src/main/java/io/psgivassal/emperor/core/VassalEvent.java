package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.ExitStatus;
import java.time.Instant;
import java.util.Optional;

/** Something that happened to a vassal, as delivered to {@link VassalListener}s. */
public record VassalEvent(Type type, String vassal, int pid, boolean adopted, Optional<ExitStatus> status, Instant at) {
  public enum Type {
    /** A process exists for the vassal (spawned, or adopted from the fork server). */
    SPAWNED,
    READY,
    ACCEPTING,
    LOYAL,
    /** The process exited; {@link #status()} says how. */
    DIED,
    /** Like SPAWNED, for any start after the first; sent right after the SPAWNED event. */
    RESPAWNED
  }

  static VassalEvent of(Type type, Vassal v) {
    return new VassalEvent(type, v.spec().name(), v.pid(), v.spec().adopted(), Optional.empty(), Instant.now());
  }

  static VassalEvent died(Vassal v, ExitStatus status) {
    return new VassalEvent(Type.DIED, v.spec().name(), v.pid(), v.spec().adopted(), Optional.of(status), Instant.now());
  }
}
