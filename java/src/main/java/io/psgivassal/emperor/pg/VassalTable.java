package io.psgivassal.emperor.pg;

import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.MonitorContext;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a database monitor last told the Emperor, and the rule that turns a fresh set of rows into
 * news: a new row starts a vassal, a changed config or {@code ts} reloads it, a missing row stops
 * it. A row that cannot be a vassal (a bad name, a config too big for the config pipe, a bad
 * socket address) is logged as that vassal's error, once per version of the row, and leaves the
 * rest alone. Loop thread only.
 */
public final class VassalTable {
  private static final Logger log = LoggerFactory.getLogger(VassalTable.class);
  private final String monitor;
  private final Map<String, Known> known = new HashMap<>();
  private final Map<String, Instant> badRows = new HashMap<>();

  private record Known(VassalSpec spec, Instant ts) {}

  public VassalTable(String monitor) {
    this.monitor = monitor;
  }

  public void apply(List<VassalRow> rows, MonitorContext ctx) {
    Set<String> present = new HashSet<>();
    for (VassalRow r : rows) {
      if (!present.add(r.name())) {
        log.warn("monitor {}: vassal {} is in more than one row; the first one counts", monitor, r.name());
        continue;
      }
      VassalSpec spec;
      try {
        // [emperor] attributes as from a file: a row names its fork server as a file would
        spec = VassalSpec.ofText(r.name(), r.config()).withAttributes(ctx.attributesOf(r.config()));
        if (r.socket().isPresent()) {
          spec = spec.withOnDemand(r.socket().get());
        }
      } catch (IllegalArgumentException e) {
        if (!r.ts().equals(badRows.put(r.name(), r.ts()))) {
          log.warn("monitor {}: vassal {}: {}{}", monitor, r.name(), e.getMessage(),
              known.containsKey(r.name()) ? "; it keeps running as it was" : "; not started");
        }
        continue;
      }
      badRows.remove(r.name());
      Known now = new Known(spec, r.ts());
      Known before = known.put(r.name(), now);
      if (!now.equals(before)) {
        log.info("monitor {}: {} {}", monitor, r.name(), before == null ? "appeared" : "changed");
        ctx.put(spec, r.ts());
      }
    }
    badRows.keySet().retainAll(present);
    for (String name : Set.copyOf(known.keySet())) {
      if (!present.contains(name)) {
        known.remove(name);
        log.info("monitor {}: {} removed", monitor, name);
        ctx.remove(name);
      }
    }
  }

  /** Forgets every vassal, stopping them. */
  public void clear(MonitorContext ctx) {
    apply(List.of(), ctx);
  }

  public Set<String> names() {
    return Set.copyOf(known.keySet());
  }
}
