package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Ports;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 15, suspect 3: binding an on-demand address that names a host resolves the name, which
 * may block for seconds on a slow resolver: never on the event loop.
 */
class OnDemandResolverTest {
  private Emperor emperor;

  @AfterEach
  void tearDown() throws Exception {
    Addresses.resolver = InetAddress::getByName;
    if (emperor != null && emperor.isRunning()) {
      emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void aHostNameIsResolvedOffTheLoopAndASlowResolverStallsNothing() throws Exception {
    List<String> threads = new CopyOnWriteArrayList<>();
    CountDownLatch slow = new CountDownLatch(1);
    Addresses.resolver = host -> {
      threads.add(Thread.currentThread().getName());
      try {
        slow.await(20, TimeUnit.SECONDS); // a resolver that hangs until the test lets it answer
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return InetAddress.getLoopbackAddress();
    };
    int port = Ports.free();
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    api.add(VassalSpec.ofText("od.ini", "[uwsgi]\n").withStart(new VassalSpec.Plain())
        .withOnDemand("slow-name.invalid:" + port));
    emperor = Emperor.builder().monitor(api).binaryPath("/bin/true").build();
    emperor.startAsync().awaitRunning(20, TimeUnit.SECONDS);

    Await.until("the resolver was asked", Duration.ofSeconds(10), () -> !threads.isEmpty());
    // while the resolver hangs, the loop serves: a vassal added now is seen at once
    long t0 = System.nanoTime();
    api.add(VassalSpec.ofText("other.ini", "[uwsgi]\n").withStart(new VassalSpec.Plain())
        .withOnDemand("127.0.0.1:" + Ports.free()));
    Await.until("the loop still serves", Duration.ofSeconds(5),
        () -> emperor.vassal("other.ini").map(v -> v.state() == VassalState.ON_DEMAND).orElse(false));
    long servedMillis = (System.nanoTime() - t0) / 1_000_000;
    slow.countDown();
    assertTrue(servedMillis < 5000, "the loop served another vassal within " + servedMillis + " ms while the resolver hung");
    Await.until("bound once resolved", Duration.ofSeconds(10), () -> {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
        return true;
      } catch (java.io.IOException e) {
        return false;
      }
    });
    assertFalse(threads.isEmpty());
    assertTrue(threads.stream().allMatch(t -> t.startsWith("emperor-resolver-")), "resolved on " + threads);
    assertEquals("127.0.0.1", Addresses.inetAddress(ListenAddress.parse("127.0.0.1:1")).getHostAddress());
    assertEquals(1, threads.size(), "a literal address needs no resolver");
  }
}
