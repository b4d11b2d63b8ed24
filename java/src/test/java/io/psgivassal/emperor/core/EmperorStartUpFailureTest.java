package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.google.common.util.concurrent.Service;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.Prctl;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 15, suspect 2: an Emperor whose startUp fails releases all it acquired there: the
 * subreaper flag, the epoll and eventfd descriptors of its loop, the stats socket.
 */
class EmperorStartUpFailureTest {
  private static final int EMFILE = 24;

  @BeforeEach
  void noEmperorRuns() {
    assumeFalse(Prctl.isChildSubreaper(), "no other Emperor (nor anything else) holds the subreaper flag");
  }

  @AfterEach
  void restore() {
    EmperorEngine.loopFactory = EventLoop::new;
  }

  private static void failsToStart(Emperor e) {
    e.startAsync();
    assertThrows(IllegalStateException.class, () -> e.awaitRunning(20, TimeUnit.SECONDS));
    assertEquals(Service.State.FAILED, e.state());
  }

  @Test
  void aLoopThatCannotBeMadeLeavesNeitherTheSubreaperFlagNorDescriptors() {
    Map<String, Long> before = EmperorTest.ownKindsOfFds();
    EmperorEngine.loopFactory = n -> {
      throw new NativeException("epoll_create1", EMFILE);
    };
    failsToStart(Emperor.builder().monitor(new ProgrammaticMonitor("api")).binaryPath("/bin/true").build());
    assertFalse(Prctl.isChildSubreaper(), "the subreaper flag was given back");
    assertEquals(before, EmperorTest.ownKindsOfFds());
  }

  @Test
  void anEventLoopWhoseEventFdCannotBeMadeClosesItsEpoll() {
    Map<String, Long> before = EmperorTest.ownKindsOfFds();
    assertThrows(NativeException.class, () -> new EventLoop(16, () -> {
      throw new NativeException("eventfd", EMFILE);
    }));
    assertEquals(before, EmperorTest.ownKindsOfFds(), "the epoll descriptor was closed");
  }

  @Test
  void anInvalidStatsAddressLeavesNeitherTheSubreaperFlagNorDescriptors() {
    Map<String, Long> before = EmperorTest.ownKindsOfFds();
    Emperor e = Emperor.builder().monitor(new ProgrammaticMonitor("api")).binaryPath("/bin/true")
        .stats("192.0.2.1:9191").build();
    failsToStart(e);
    assertTrue(String.valueOf(e.failureCause()).contains("192.0.2.1"), "the stats socket failed: " + e.failureCause());
    assertFalse(Prctl.isChildSubreaper(), "the subreaper flag was given back");
    assertEquals(before, EmperorTest.ownKindsOfFds());
    assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().startsWith("emperor-loop")));
  }
}
