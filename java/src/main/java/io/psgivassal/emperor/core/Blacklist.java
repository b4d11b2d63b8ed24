package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.BlacklistEntry;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * uWSGI's blacklist: a vassal that dies before it was loyal waits before its next start, and the
 * wait grows by {@code --emperor-throttle} with every such death up to
 * {@code --emperor-max-throttle}. Loyalty (byte 17) takes it off the list. uWSGI halves the level
 * once it hits the maximum; that makes a hopeless vassal speed up again, so the level stays at the
 * maximum here. Owned by the event loop thread.
 */
final class Blacklist {
  private final long stepMillis;
  private final long maxMillis;
  private final Map<String, BlacklistEntry> entries = new LinkedHashMap<>();

  Blacklist(Duration step, Duration max) {
    this.stepMillis = Math.max(0, step.toMillis());
    this.maxMillis = Math.max(stepMillis, max.toMillis());
  }

  /** Records one more death before loyalty; returns the updated entry. */
  BlacklistEntry add(String vassal) {
    Instant now = Instant.now();
    BlacklistEntry old = entries.get(vassal);
    BlacklistEntry e = old == null
        ? new BlacklistEntry(vassal, Duration.ofMillis(stepMillis), 1, now, now)
        : new BlacklistEntry(vassal, Duration.ofMillis(Math.min(maxMillis, old.throttle().toMillis() + stepMillis)),
            old.attempt() + 1, old.firstAttempt(), now);
    entries.put(vassal, e);
    return e;
  }

  /** @return whether it was listed */
  boolean remove(String vassal) {
    return entries.remove(vassal) != null;
  }

  Optional<BlacklistEntry> get(String vassal) {
    return Optional.ofNullable(entries.get(vassal));
  }

  List<BlacklistEntry> snapshot() {
    return List.copyOf(entries.values());
  }
}
