package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The loop's timers, driven by hand (no Emperor, no process). */
class EventLoopTest {
  @Test
  void aHugeDelayMeansNeverAndDoesNotHoldUpTheTimersBehindIt() throws Exception {
    try (EventLoop loop = new EventLoop(8)) {
      AtomicInteger ran = new AtomicInteger();
      loop.schedule(9_999_999_999L, TimeUnit.SECONDS, () -> ran.addAndGet(100)); // --reload-mercy 9999999999
      loop.schedule(Long.MAX_VALUE, TimeUnit.MILLISECONDS, () -> ran.addAndGet(100));
      loop.schedule(10, TimeUnit.MILLISECONDS, ran::incrementAndGet);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (ran.get() == 0 && System.nanoTime() < deadline) {
        loop.runOnce(50);
      }
      assertEquals(1, ran.get(), "the 10 ms timer ran, the 'never' ones did not");
    }
  }

  @Test
  void aHandlerThatThrowsAnErrorIsLoggedAndTheLoopGoesOn() throws Exception {
    try (EventLoop loop = new EventLoop(8)) {
      AtomicInteger ran = new AtomicInteger();
      loop.execute(() -> {
        throw new AssertionError("a handler's bug");
      });
      loop.execute(ran::incrementAndGet);
      loop.schedule(0, TimeUnit.MILLISECONDS, () -> {
        throw new LinkageError("a missing class");
      });
      loop.schedule(0, TimeUnit.MILLISECONDS, ran::incrementAndGet);
      loop.runOnce(0);
      assertEquals(2, ran.get(), "what came after the failing ones ran, in the same turn");
    }
  }

  @Test
  void aNegativeDelayRunsAtTheNextTurn() throws Exception {
    try (EventLoop loop = new EventLoop(8)) {
      AtomicInteger ran = new AtomicInteger();
      loop.schedule(-5, TimeUnit.SECONDS, ran::incrementAndGet);
      loop.runOnce(0);
      assertTrue(ran.get() == 1);
    }
  }
}
