package io.psgivassal.emperor.web;

import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalListener;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the snapshots do not keep but the dashboard shows: counts of deaths, adoptions and deploys,
 * and each vassal's last exit with its reason, gathered from the Emperor's events (delivered off
 * the event loop, so counting here costs the loop nothing).
 */
final class EventTally implements VassalListener {
  /** A vassal's last exit: how it ended, and why the Emperor let it go when it did (a curse, a reload). */
  record Exit(String status, String reason, Instant at) {}

  private final Map<String, AtomicLong> deaths = new ConcurrentHashMap<>();
  private final Map<String, Exit> lastExit = new ConcurrentHashMap<>();
  private final Map<String, String> lastCurse = new ConcurrentHashMap<>();
  final AtomicLong adoptions = new AtomicLong();
  final AtomicLong spawns = new AtomicLong();
  final AtomicLong deploysStarted = new AtomicLong();
  final AtomicLong deploysFailed = new AtomicLong();
  final AtomicLong deploysFinished = new AtomicLong();

  @Override
  public void onEvent(VassalEvent e) {
    switch (e.type()) {
      case SPAWNED -> (e.adopted() ? adoptions : spawns).incrementAndGet();
      case CURSED -> lastCurse.put(e.vassal(), e.detail());
      case RELOAD_SENT -> lastCurse.put(e.vassal(), "reload: " + e.detail());
      case HEARTBEAT_MISSED -> lastCurse.put(e.vassal(), "heartbeat missed: " + e.detail());
      case DIED -> {
        deaths.computeIfAbsent(e.vassal(), k -> new AtomicLong()).incrementAndGet();
        String reason = lastCurse.remove(e.vassal());
        lastExit.put(e.vassal(), new Exit(e.detail(), reason != null ? reason : "unexpected", e.at()));
      }
      case DEPLOY_STARTED -> deploysStarted.incrementAndGet();
      case DEPLOY_FAILED -> deploysFailed.incrementAndGet();
      case DEPLOY_FINISHED -> deploysFinished.incrementAndGet();
      case REMOVED -> {
        // a forgotten vassal's figures go with it: names come and go, memory must not grow with them
        lastCurse.remove(e.vassal());
        lastExit.remove(e.vassal());
        deaths.remove(e.vassal());
      }
      default -> { }
    }
  }

  /** Deaths of each vassal seen since the dashboard started, by name. */
  Map<String, Long> deaths() {
    Map<String, Long> m = new java.util.TreeMap<>();
    deaths.forEach((k, v) -> m.put(k, v.get()));
    return m;
  }

  Map<String, Exit> lastExits() {
    return Map.copyOf(lastExit);
  }
}
