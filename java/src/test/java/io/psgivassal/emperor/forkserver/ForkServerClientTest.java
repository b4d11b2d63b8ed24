package io.psgivassal.emperor.forkserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ForkServerRequest;
import io.psgivassal.emperor.protocol.PidResponse;
import io.psgivassal.emperor.protocol.UwsgiDict;
import io.psgivassal.emperor.protocol.UwsgiPacket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Drives the client against a scripted fake fork server built on the same natives. */
class ForkServerClientTest {
  @TempDir Path dir;
  private int listenFd = -1;

  @AfterEach
  void closeListener() {
    FileDescriptors.closeQuietly(listenFd);
  }

  /** Accepts one connection, hands (request, fds, connection) to {@code script}, then closes. */
  private CompletableFuture<ForkServerRequest> fakeServer(Path sock, Script script) {
    listenFd = UnixSockets.listen(sock, 4);
    return CompletableFuture.supplyAsync(() -> {
      int conn = UnixSockets.accept(listenFd);
      try {
        UnixSockets.Received got = UnixSockets.recvWithFds(conn, 70000, 8);
        ForkServerRequest req = ForkServerRequest.decode(got.data());
        assertEquals(req.descriptorCount(), got.fds().length);
        script.run(req, got.fds(), conn);
        for (int fd : got.fds()) {
          FileDescriptors.close(fd);
        }
        return req;
      } catch (Exception e) {
        throw new RuntimeException(e);
      } finally {
        FileDescriptors.close(conn);
      }
    });
  }

  interface Script {
    void run(ForkServerRequest req, int[] fds, int conn) throws Exception;
  }

  @Test
  void adoptSendsArgvAndPipeAndReturnsPid() throws Exception {
    Path sock = dir.resolve("fork.sock");
    var server = fakeServer(sock, (req, fds, conn) -> {
      UnixSockets.writeByte(fds[0], 1); // as the vassal would, on the pipe it received
      FileDescriptors.writeFully(conn, PidResponse.of(31337).encode());
    });
    int[] pipe = UnixSockets.socketPair();
    try {
      int pid = new ForkServerClient(sock).adopt(List.of("/bin/vassal", "--ini", "/x/app.ini"), pipe[1], -1, -1,
          Duration.ofSeconds(5));
      assertEquals(31337, pid);
      ForkServerRequest req = server.get(5, TimeUnit.SECONDS);
      assertEquals(0x01, req.mask());
      assertEquals(List.of("/bin/vassal", "--ini", "/x/app.ini"), req.argv());
      assertEquals(1, UnixSockets.readByte(pipe[0]));
    } finally {
      FileDescriptors.close(pipe[0]);
      FileDescriptors.close(pipe[1]);
    }
  }

  @Test
  void maskFollowsAttachedDescriptorsAndReplyMayArriveInPieces() throws Exception {
    Path sock = dir.resolve("fork.sock");
    var server = fakeServer(sock, (req, fds, conn) -> {
      byte[] reply = new UwsgiPacket(35, 0, UwsgiDict.encode(Map.of("pid", "77"))).encode();
      for (byte b : reply) {
        FileDescriptors.writeFully(conn, new byte[] {b});
        Thread.sleep(2);
      }
    });
    int[] a = UnixSockets.socketPair();
    int[] b = UnixSockets.socketPair();
    int[] c = UnixSockets.socketPair();
    try {
      assertEquals(77, new ForkServerClient(sock).adopt(List.of("v"), a[1], b[1], c[1], Duration.ofSeconds(5)));
      assertEquals(0x07, server.get(5, TimeUnit.SECONDS).mask());
      assertEquals(0x05, AttachedFds.of(a[1], -1, c[1]).mask());
    } finally {
      for (int[] p : new int[][] {a, b, c}) {
        FileDescriptors.close(p[0]);
        FileDescriptors.close(p[1]);
      }
    }
  }

  @Test
  void missingSocketIsRetryableUnavailable() {
    int[] pipe = UnixSockets.socketPair();
    try {
      ForkServerUnavailableException e = assertThrows(ForkServerUnavailableException.class,
          () -> new ForkServerClient(dir.resolve("none.sock")).adopt(List.of("v"), pipe[1], -1, -1, Duration.ofSeconds(1)));
      assertEquals(2, e.errno());
      assertTrue(e.isRetryable());
    } finally {
      FileDescriptors.close(pipe[0]);
      FileDescriptors.close(pipe[1]);
    }
  }

  @Test
  void staleSocketIsConnectionRefused() {
    Path sock = dir.resolve("stale.sock");
    FileDescriptors.close(UnixSockets.listen(sock, 1)); // leaves the socket file, nobody listening
    int[] pipe = UnixSockets.socketPair();
    try {
      ForkServerUnavailableException e = assertThrows(ForkServerUnavailableException.class,
          () -> new ForkServerClient(sock).adopt(List.of("v"), pipe[1], -1, -1, Duration.ofSeconds(1)));
      assertEquals(111, e.errno());
      assertTrue(e.getMessage().contains("Connection refused (errno 111)"), e.getMessage());
    } finally {
      FileDescriptors.close(pipe[0]);
      FileDescriptors.close(pipe[1]);
    }
  }

  @Test
  void silentServerTimesOut() throws Exception {
    Path sock = dir.resolve("fork.sock");
    var server = fakeServer(sock, (req, fds, conn) -> Thread.sleep(800));
    int[] pipe = UnixSockets.socketPair();
    try {
      long t0 = System.nanoTime();
      AdoptionTimeoutException e = assertThrows(AdoptionTimeoutException.class,
          () -> new ForkServerClient(sock).adopt(List.of("v"), pipe[1], -1, -1, Duration.ofMillis(200)));
      assertTrue(System.nanoTime() - t0 < 700_000_000L, "returned at the timeout, not when the server hung up");
      assertTrue(e.isRetryable());
      server.get(5, TimeUnit.SECONDS);
    } finally {
      FileDescriptors.close(pipe[0]);
      FileDescriptors.close(pipe[1]);
    }
  }

  @Test
  void failureReplyAndEarlyEof() throws Exception {
    Path sock = dir.resolve("fork.sock");
    var server = fakeServer(sock, (req, fds, conn) -> FileDescriptors.writeFully(conn,
        new PidResponse(Map.of("pid", "-1")).encode()));
    int[] pipe = UnixSockets.socketPair();
    try {
      ForkServerException e = assertThrows(ForkServerException.class,
          () -> new ForkServerClient(sock).adopt(List.of("v"), pipe[1], -1, -1, Duration.ofSeconds(5)));
      assertEquals("the fork server reported failure: pid -1", e.getMessage());
      server.get(5, TimeUnit.SECONDS);
      FileDescriptors.close(listenFd);
      java.nio.file.Files.delete(sock);

      server = fakeServer(sock, (req, fds, conn) -> FileDescriptors.writeFully(conn, new byte[] {35, 9, 0}));
      e = assertThrows(ForkServerException.class,
          () -> new ForkServerClient(sock).adopt(List.of("v"), pipe[1], -1, -1, Duration.ofSeconds(5)));
      assertEquals("the fork server closed the connection after 3 bytes, before a complete pid reply", e.getMessage());
      assertFalse(e instanceof ForkServerUnavailableException);
      server.get(5, TimeUnit.SECONDS);
    } finally {
      FileDescriptors.close(pipe[0]);
      FileDescriptors.close(pipe[1]);
    }
  }

  @Test
  void warmUpRunsTheClientPathAndLeavesNoDescriptorBehind() throws Exception {
    ForkServerClient.warmUp(); // the first call may open what the JVM keeps open anyway (a library)
    long before;
    try (var fds = java.nio.file.Files.list(Path.of("/proc/self/fd"))) {
      before = fds.count();
    }
    for (int i = 0; i < 5; i++) {
      ForkServerClient.warmUp(); // throws if the reply read back is not our own pid
    }
    try (var fds = java.nio.file.Files.list(Path.of("/proc/self/fd"))) {
      assertEquals(before, fds.count(), "descriptors open after five more warm-ups");
    }
  }
}
