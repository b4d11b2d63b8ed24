package io.psgivassal.emperor.api;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Vassals added, updated and removed from Java, from any thread, before or after the Emperor
 * starts. A text config ({@link VassalSpec#ofText}) travels to the vassal over the config pipe
 * with {@code emperor://NAME} in its argv, and is sent again whenever the vassal asks (byte 2).
 * An update with a different spec counts as a config change: the vassal gets 1 (reload).
 *
 * <pre>{@code
 * ProgrammaticMonitor api = new ProgrammaticMonitor("api");
 * Emperor emperor = Emperor.builder().monitor(api).binaryPath("psgi-vassal").build();
 * emperor.startAsync().awaitRunning();
 * api.add(VassalSpec.ofText("shop.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:9090\n"));
 * }</pre>
 */
public final class ProgrammaticMonitor implements Monitor {
  private final String id;
  private final Map<String, Entry> specs = new LinkedHashMap<>();
  private MonitorContext ctx;
  private boolean stopped;

  private record Entry(VassalSpec spec, Instant modified) {}

  public ProgrammaticMonitor(String id) {
    this.id = id;
  }

  @Override
  public String id() {
    return id;
  }

  /** @throws IllegalArgumentException if a vassal of that name was already added here */
  public synchronized void add(VassalSpec spec) {
    if (specs.containsKey(spec.name())) {
      throw new IllegalArgumentException("vassal " + spec.name() + " already added to monitor " + id);
    }
    store(spec);
  }

  /** @throws IllegalArgumentException if no vassal of that name was added here */
  public synchronized void update(VassalSpec spec) {
    if (!specs.containsKey(spec.name())) {
      throw new IllegalArgumentException("vassal " + spec.name() + " is not in monitor " + id);
    }
    if (!specs.get(spec.name()).spec().equals(spec)) {
      store(spec);
    }
  }

  /** Adds or updates. */
  public synchronized void put(VassalSpec spec) {
    Entry old = specs.get(spec.name());
    if (old == null || !old.spec().equals(spec)) {
      store(spec);
    }
  }

  /** @return whether it was there */
  public synchronized boolean remove(String name) {
    if (specs.remove(name) == null) {
      return false;
    }
    checkRunning();
    if (ctx != null) {
      ctx.execute(() -> ctx.remove(name));
    }
    return true;
  }

  public synchronized Set<String> names() {
    return Set.copyOf(specs.keySet());
  }

  public synchronized Optional<VassalSpec> get(String name) {
    return Optional.ofNullable(specs.get(name)).map(Entry::spec);
  }

  private void store(VassalSpec spec) {
    checkRunning();
    Entry e = new Entry(spec, Instant.now());
    specs.put(spec.name(), e);
    if (ctx != null) {
      // under the lock, so the loop sees changes in the order they were made
      ctx.execute(() -> ctx.put(e.spec(), e.modified()));
    }
  }

  private void checkRunning() {
    if (stopped) {
      throw new IllegalStateException("monitor " + id + " is stopped (its Emperor stopped)");
    }
  }

  @Override
  public synchronized void start(MonitorContext context) {
    this.ctx = context;
    for (Entry e : specs.values()) {
      context.put(e.spec(), e.modified());
    }
  }

  @Override
  public synchronized void stop() {
    stopped = true;
  }
}
