package io.psgivassal.emperor.api;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * How long adoptions took, as histogram data: from a start's first request to its fork server
 * (so a wait for a fork server that is down counts) to the adopted process attached. Immutable.
 *
 * Reported by {@link Emperor#adoptionLatencies()} (the web dashboard's {@code /metrics} shows it
 * as a Prometheus histogram).
 *
 * @param upperBoundsSeconds the buckets' upper bounds, ascending, the last one +Inf
 * @param counts adoptions in each bucket (not cumulative): above the previous bound, up to this one
 * @param sumSeconds the total of all latencies
 */
public record AdoptionLatencies(List<Double> upperBoundsSeconds, List<Long> counts, long count, double sumSeconds) {
  private static final List<Double> BOUNDS = List.of(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
      Double.POSITIVE_INFINITY);
  /** No adoption yet, in the standard buckets. */
  public static final AdoptionLatencies NONE = new AdoptionLatencies(BOUNDS, BOUNDS.stream().map(b -> 0L).toList(), 0, 0);

  public AdoptionLatencies {
    upperBoundsSeconds = List.copyOf(upperBoundsSeconds);
    counts = List.copyOf(counts);
  }

  /** These latencies and one more (the engine records each adoption so). */
  public AdoptionLatencies plus(Duration latency) {
    double s = latency.toNanos() / 1e9;
    List<Long> c = new ArrayList<>(counts);
    for (int i = 0; i < upperBoundsSeconds.size(); i++) {
      if (s <= upperBoundsSeconds.get(i)) {
        c.set(i, c.get(i) + 1);
        break;
      }
    }
    return new AdoptionLatencies(upperBoundsSeconds, c, count + 1, sumSeconds + s);
  }
}
