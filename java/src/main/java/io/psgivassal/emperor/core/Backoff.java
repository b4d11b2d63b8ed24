package io.psgivassal.emperor.core;

import java.time.Duration;

/** Retry delays that double from {@code initial} up to {@code max}; reset after a success. */
final class Backoff {
  private final long initialMillis;
  private final long maxMillis;
  private long nextMillis;

  Backoff(Duration initial, Duration max) {
    this.initialMillis = initial.toMillis();
    this.maxMillis = max.toMillis();
    this.nextMillis = initialMillis;
  }

  long nextDelayMillis() {
    long d = nextMillis;
    nextMillis = Math.min(maxMillis, nextMillis * 2);
    return d;
  }

  void reset() {
    nextMillis = initialMillis;
  }
}
