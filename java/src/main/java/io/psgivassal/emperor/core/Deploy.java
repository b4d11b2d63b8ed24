package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.DeployView;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A rolling deploy: once a base vassal's new generation serves its fork-server socket, every
 * vassal adopted from that socket by an older generation of the base is started again from the
 * new one, {@code batch} at a time, each new generation accepting before its old one is stopped.
 * Holds the bookkeeping; the Supervisor makes the moves. Owned by the event loop thread.
 */
final class Deploy {
  /** A vassal whose new generations keep landing on an old base is given up after this many tries. */
  static final int MAX_ATTEMPTS = 3;

  final Vassal base;
  final Path socket;
  final int target;
  final Instant started = Instant.now();
  final Set<Vassal> inProgress = new LinkedHashSet<>();
  private final Map<String, Integer> attempts = new HashMap<>();
  final List<String> failed = new ArrayList<>();
  int redeployed;
  /** The new base serves: vassals may move (before that, the deploy only waits for it). */
  boolean rolling;

  Deploy(Vassal base, Path socket, int target) {
    this.base = base;
    this.socket = socket;
    this.target = target;
  }

  /** Does {@code v} still run code from an older base generation, and can it move now? */
  boolean candidate(Vassal v) {
    return v != base && v.adopted && v.alive() && v.forkServer.equals(Optional.of(socket))
        && v.baseGeneration < target && v.predecessor == null && v.start == null && !v.proc.stopSent
        && v.proc.cursedAt == null && v.intent() == Intent.RUN && !inProgress.contains(v)
        && attempts.getOrDefault(v.name(), 0) < MAX_ATTEMPTS;
  }

  void begin(Vassal v) {
    inProgress.add(v);
    attempts.merge(v.name(), 1, Integer::sum);
  }

  /** {@code v}'s new generation accepts: done if it came from the new base. */
  void accepted(Vassal v) {
    if (inProgress.remove(v) && v.baseGeneration >= target) {
      redeployed++;
    }
  }

  /** {@code v}'s new generation died before it accepted: its old one serves on. */
  void failedFor(Vassal v) {
    if (inProgress.remove(v)) {
      failed.add(v.name());
    }
  }

  String summary() {
    return redeployed + " vassal(s) moved to generation " + target + (failed.isEmpty() ? "" : ", " + failed.size()
        + " kept their old generation " + failed);
  }

  DeployView view() {
    return new DeployView(base.name(), socket, target, started, rolling, inProgress.size(), redeployed, failed);
  }
}
