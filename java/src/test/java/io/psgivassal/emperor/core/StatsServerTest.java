package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.psgivassal.emperor.api.EmperorStatus;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.testing.LogCapture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;

/** The stats server on a loop driven by hand, against a host out of descriptors and a flood of clients. */
class StatsServerTest {
  private static final int EMFILE = 24;
  private static final EmperorStatus STATUS = new EmperorStatus("test", 1, 0, 0, "/", List.of("api"), 1, List.of(),
      List.of(), List.of());

  private static StatsServer server(EventLoop loop, IntUnaryOperator acceptor) {
    StatsServer s = new StatsServer(ListenAddress.parse("127.0.0.1:0"), loop, () -> STATUS, acceptor);
    s.start();
    return s;
  }

  private static Socket connect(StatsServer server) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", server.port().getAsInt()), 5000); // the kernel completes it: backlog
    s.setSoTimeout(10_000);
    return s;
  }

  /** Turns the loop until {@code done} (at most {@code maxMillis}); how many turns it took. */
  private static int turnUntil(EventLoop loop, long maxMillis, BooleanSupplier done) {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(maxMillis);
    int turns = 0;
    while (!done.getAsBoolean() && System.nanoTime() < deadline) {
      loop.runOnce(50);
      turns++;
    }
    return turns;
  }

  @Test
  void anAcceptThatKeepsFailingBacksOffInsteadOfSpinningSaysSoOnceAndRecovers() throws Exception {
    AtomicBoolean failing = new AtomicBoolean(true);
    AtomicInteger attempts = new AtomicInteger();
    // as accept4 under RLIMIT_NOFILE: EMFILE, and the connection stays queued
    IntUnaryOperator acceptor = fd -> {
      attempts.incrementAndGet();
      if (failing.get()) {
        throw new NativeException("accept4", EMFILE);
      }
      return UnixSockets.acceptNonBlocking(fd);
    };
    try (EventLoop loop = new EventLoop(8);
        LogCapture logs = LogCapture.start();
        StatsServer server = server(loop, acceptor);
        Socket client = connect(server)) {
      int turns = turnUntil(loop, 1000, () -> false);
      // a level-triggered listener that stays on the loop fires at every turn: tens of thousands in a
      // second; backing off from 25 ms (25, 50, 100, 200, 400) tries about six times
      assertTrue(attempts.get() <= 10, attempts + " accept attempts in a second");
      assertTrue(turns <= 60, turns + " loop turns in a second");
      assertEquals(1, logs.lines("WARN", "stats server", "Too many open files").size(), "said once: " + logs.lines("stats"));

      failing.set(false);
      CompletableFuture<byte[]> doc = CompletableFuture.supplyAsync(() -> {
        try {
          return client.getInputStream().readAllBytes();
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
      turnUntil(loop, 5000, doc::isDone);
      assertEquals("test", new ObjectMapper().readTree(doc.get()).get("version").asText(), "the queued client is served");
      assertEquals(1, logs.lines("stats server", "accepting again after").size(), "" + logs.lines("stats"));
    }
  }

  @Test
  void atMostMaxClientsAreOpenAtOnceTheOthersWaitInTheBacklog() throws Exception {
    AtomicInteger accepted = new AtomicInteger();
    IntUnaryOperator acceptor = fd -> {
      int c = UnixSockets.acceptNonBlocking(fd);
      if (c >= 0) {
        accepted.incrementAndGet();
      }
      return c;
    };
    List<Socket> clients = new ArrayList<>();
    try (EventLoop loop = new EventLoop(8); StatsServer server = server(loop, acceptor)) {
      try {
        // clients that never close: each keeps its connection open until the client timeout
        for (int i = 0; i < StatsServer.MAX_CLIENTS + 4; i++) {
          clients.add(connect(server));
        }
        turnUntil(loop, 5000, () -> accepted.get() >= StatsServer.MAX_CLIENTS);
        turnUntil(loop, 300, () -> false);
        assertEquals(StatsServer.MAX_CLIENTS, accepted.get(), "served at once");

        clients.remove(0).close(); // its place goes to one that waited
        turnUntil(loop, 5000, () -> accepted.get() > StatsServer.MAX_CLIENTS);
        turnUntil(loop, 300, () -> false);
        assertEquals(StatsServer.MAX_CLIENTS + 1, accepted.get());
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
    }
  }
}
