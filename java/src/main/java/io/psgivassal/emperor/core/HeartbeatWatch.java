package io.psgivassal.emperor.core;

import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * uWSGI's heartbeat rule: a vassal that sent a heartbeat (26) once and then none for the timeout
 * is reported (and killed by the caller). Vassals that never beat are never judged. One periodic
 * check for all vassals, on the event loop thread.
 */
final class HeartbeatWatch {
  private final Duration timeout;
  private final EventLoop loop;
  private final Supplier<Collection<Vassal>> vassals;
  private final Consumer<Vassal> silent;
  private EventLoop.Timer timer;
  private boolean stopped;

  HeartbeatWatch(Duration timeout, EventLoop loop, Supplier<Collection<Vassal>> vassals, Consumer<Vassal> silent) {
    this.timeout = timeout;
    this.loop = loop;
    this.vassals = vassals;
    this.silent = silent;
  }

  /** Checks a few times per timeout (at most every second, at least every 100 ms). */
  void start() {
    if (timeout.isZero() || stopped) {
      return;
    }
    long every = Math.max(100, Math.min(1000, timeout.toMillis() / 4));
    timer = loop.schedule(every, TimeUnit.MILLISECONDS, () -> {
      check();
      start();
    });
  }

  void stop() {
    stopped = true;
    if (timer != null) {
      timer.cancel();
    }
  }

  private void check() {
    long limit = timeout.toNanos();
    long now = System.nanoTime();
    for (Vassal v : vassals.get()) {
      if (v.alive() && v.lastHeartbeat != null && v.proc.cursedAt == null && now - v.lastHeartbeatNanos > limit) {
        v.silenceNoticed();
        silent.accept(v);
      }
    }
  }
}
