package io.psgivassal.emperor.web;

import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.psgivassal.emperor.api.AdoptionLatencies;
import io.psgivassal.emperor.api.BlacklistEntry;
import io.psgivassal.emperor.api.EmperorStatus;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleFunction;

/**
 * The Emperor in Prometheus text format. Every figure is a callback on one status snapshot taken
 * per scrape, so a scrape is consistent with itself and with the stats JSON of that snapshot;
 * the library writes the format (names, label escaping, types).
 */
final class EmperorMetrics {
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
  private final EventTally tally;
  /** The snapshot the callbacks read, set for the length of one scrape (scrapes are serialized). */
  private EmperorStatus status;
  private ProcessFigures process;
  private AdoptionLatencies adoptions;

  EmperorMetrics(EventTally tally) {
    this.tally = tally;
    GaugeWithCallback.builder().name("emperor_vassals").help("Vassals in each state").labelNames("state")
        .callback(cb -> byState().forEach((st, n) -> cb.call(n, lower(st)))).register(registry);
    GaugeWithCallback.builder().name("emperor_vassal_up").help("1 when the vassal has a process that is not being stopped")
        .labelNames("vassal").callback(cb -> status.vassals().forEach(v -> cb.call(v.state().isUp() ? 1 : 0, v.name())))
        .register(registry);
    GaugeWithCallback.builder().name("emperor_vassal_state").help("The vassal's current state (1 for the state it is in)")
        .labelNames("vassal", "state").callback(cb -> status.vassals().forEach(v -> cb.call(1, v.name(), lower(v.state()))))
        .register(registry);
    GaugeWithCallback.builder().name("emperor_vassal_pid").help("The vassal's current process id, 0 when it has none")
        .labelNames("vassal").callback(cb -> status.vassals().forEach(v -> cb.call(v.pid(), v.name()))).register(registry);
    CounterWithCallback.builder().name("emperor_vassal_respawns").help("Starts of the vassal after its first")
        .labelNames("vassal").callback(cb -> status.vassals().forEach(v -> cb.call(v.respawns(), v.name())))
        .register(registry);
    CounterWithCallback.builder().name("emperor_vassal_deaths").help("Exits of the vassal's processes seen by the dashboard")
        .labelNames("vassal").callback(cb -> {
          Map<String, Long> d = tally.deaths();
          status.vassals().forEach(v -> cb.call(d.getOrDefault(v.name(), 0L), v.name()));
        }).register(registry);
    GaugeWithCallback.builder().name("emperor_blacklisted_vassals").help("Vassals on the blacklist")
        .callback(cb -> cb.call(status.blacklist().size())).register(registry);
    perBlacklisted("emperor_blacklist_throttle_seconds", "How long the vassal waits before its next start",
        b -> b.throttle().toMillis() / 1000.0);
    perBlacklisted("emperor_blacklist_attempts", "Times in a row the vassal died before it was loyal", BlacklistEntry::attempt);
    GaugeWithCallback.builder().name("emperor_fork_server_queue").help("Vassals waiting for, or talking to, a fork server")
        .labelNames("fork_server").callback(cb -> forkServerQueues().forEach((fs, n) -> cb.call(n, fs))).register(registry);
    total("emperor_adoptions", "Processes adopted from a fork server", tally.adoptions);
    registry.register(() -> HistogramSnapshot.builder().name("emperor_adoption_latency_seconds")
        .help("From a vassal's first request to its fork server to its adopted process attached")
        .dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
            .classicHistogramBuckets(ClassicHistogramBuckets.of(adoptions.upperBoundsSeconds(), adoptions.counts()))
            .sum(adoptions.sumSeconds()).build())
        .build());
    total("emperor_spawns", "Processes spawned with posix_spawn", tally.spawns);
    total("emperor_deploys_started", "Deploys started", tally.deploysStarted);
    total("emperor_deploys_failed", "Deploys whose new base generation died before it was ready", tally.deploysFailed);
    total("emperor_deploys_finished", "Deploys with every vassal on the new generation", tally.deploysFinished);
    GaugeWithCallback.builder().name("emperor_deploys_in_progress").help("Deploys under way")
        .callback(cb -> cb.call(status.deploys().size())).register(registry);
    GaugeWithCallback.builder().name("emperor_threads").help("Threads of the Emperor's JVM")
        .callback(cb -> cb.call(process.threads())).register(registry);
    GaugeWithCallback.builder().name("emperor_open_fds").help("Open file descriptors of the Emperor")
        .callback(cb -> cb.call(process.openFds())).register(registry);
    GaugeWithCallback.builder().name("emperor_resident_memory_bytes").help("Resident memory of the Emperor")
        .callback(cb -> cb.call(process.residentBytes())).register(registry);
  }

  private void perBlacklisted(String name, String help, ToDoubleFunction<BlacklistEntry> value) {
    GaugeWithCallback.builder().name(name).help(help).labelNames("vassal")
        .callback(cb -> status.blacklist().forEach(b -> cb.call(value.applyAsDouble(b), b.vassal()))).register(registry);
  }

  private void total(String name, String help, AtomicLong n) {
    CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(n.get())).register(registry);
  }

  private Map<VassalState, Integer> byState() {
    Map<VassalState, Integer> m = new EnumMap<>(VassalState.class);
    for (VassalState st : VassalState.values()) {
      m.put(st, 0);
    }
    status.vassals().forEach(v -> m.merge(v.state(), 1, Integer::sum));
    return m;
  }

  private Map<String, Integer> forkServerQueues() {
    Map<String, Integer> m = new TreeMap<>();
    for (VassalView v : status.vassals()) {
      v.forkServer().ifPresent(fs -> m.merge(fs.toString(), v.state() == VassalState.ADOPTING ? 1 : 0, Integer::sum));
    }
    return m;
  }

  private static String lower(VassalState st) {
    return st.name().toLowerCase(Locale.ROOT);
  }

  /** The text exposition of {@code s}. */
  synchronized byte[] render(EmperorStatus s, AdoptionLatencies a, ProcessFigures p) {
    status = s;
    adoptions = a;
    process = p;
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      writer.write(out, registry.scrape(), EscapingScheme.UNDERSCORE_ESCAPING);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      status = null;
      adoptions = null;
      process = null;
    }
  }

  String contentType() {
    return writer.getContentType();
  }
}
