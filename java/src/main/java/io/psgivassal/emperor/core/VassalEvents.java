package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.ExitStatus;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/** The events a vassal's life makes. */
final class VassalEvents {
  private VassalEvents() {}

  static VassalEvent of(Type type, Vassal v, String detail) {
    return new VassalEvent(type, v.name(), v.pid(), v.adopted(), Optional.empty(), Optional.empty(), detail, Instant.now());
  }

  static VassalEvent died(Vassal v, int pid, ExitStatus status) {
    return new VassalEvent(Type.DIED, v.name(), pid, v.adopted(), Optional.of(status), Optional.empty(),
        status.toString(), Instant.now());
  }

  static VassalEvent blacklisted(Vassal v, Duration throttle, int attempt) {
    return new VassalEvent(Type.BLACKLISTED, v.name(), 0, v.adopted(), Optional.empty(), Optional.of(throttle),
        "attempt " + attempt, Instant.now());
  }
}
