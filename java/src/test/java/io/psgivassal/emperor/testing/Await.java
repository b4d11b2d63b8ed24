package io.psgivassal.emperor.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Bounded polling: tests wait for a condition, generously (the machine is shared), never for a fixed time. */
public final class Await {
  private Await() {}

  public static void until(String what, Duration max, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + max.toSeconds() + " s waiting for " + what);
      }
      Thread.sleep(20);
    }
  }
}
