package io.psgivassal.emperor.core;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A start in progress, from the start hook to the moment a process exists; retries after a
 * failed spawn or adoption belong to the same attempt. Cancelling it (the config changed or went
 * away, or the Emperor stops) makes every later callback of the attempt a no-op.
 */
final class StartAttempt {
  /** The fork server to adopt from, or empty for posix_spawn. */
  final Optional<Path> forkServer;
  boolean hookRunning;
  /** Set while the attempt waits in, or talks to, this fork-server queue. */
  ForkServerQueue queue;
  EventLoop.Timer retryTimer;
  /** When its first adoption request was queued (System.nanoTime), 0 before: adoption latency runs from here. */
  long firstQueuedNanos;
  private boolean cancelled;

  StartAttempt(Optional<Path> forkServer) {
    this.forkServer = forkServer;
  }

  boolean adopted() {
    return forkServer.isPresent();
  }

  boolean cancelled() {
    return cancelled;
  }

  void cancel() {
    cancelled = true;
    if (retryTimer != null) {
      retryTimer.cancel();
      retryTimer = null;
    }
  }
}
