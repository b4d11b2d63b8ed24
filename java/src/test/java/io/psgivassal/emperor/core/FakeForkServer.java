package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.PosixSpawn;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ForkServerRequest;
import io.psgivassal.emperor.protocol.PidResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.IntUnaryOperator;

/**
 * A stand-in fork server in the test JVM: for each request it double-forks argv[0] (a test
 * script) through {@code sh}, with the received Emperor pipe at fd 3, in the JVM's session (the
 * session of the process that listens, as with a real fork server), and replies with the
 * grandchild's pid, which re-parents to the Emperor (the JVM, its subreaper). {@code reply} may
 * replace that pid with another, to play a lying fork server.
 */
final class FakeForkServer implements AutoCloseable {
  final List<ForkServerRequest> requests = new CopyOnWriteArrayList<>();
  private final Path socket;
  private final int listenFd;
  private final Thread thread;
  private final IntUnaryOperator reply;
  private volatile boolean closing;

  FakeForkServer(Path socket) {
    this(socket, pid -> pid);
  }

  FakeForkServer(Path socket, IntUnaryOperator reply) {
    this.socket = socket;
    this.reply = reply;
    this.listenFd = UnixSockets.listen(socket, 8);
    this.thread = new Thread(this::serve, "fake-fork-server");
    thread.setDaemon(true);
    thread.start();
  }

  private void serve() {
    while (!closing) {
      int conn;
      try {
        conn = UnixSockets.accept(listenFd);
      } catch (RuntimeException e) {
        return; // listener closed
      }
      try {
        UnixSockets.Received got = UnixSockets.recvWithFds(conn, 70000, 8);
        ForkServerRequest req = ForkServerRequest.decode(got.data());
        requests.add(req);
        int pid = doubleFork(req.argv(), got.fds()[0]);
        for (int fd : got.fds()) {
          FileDescriptors.close(fd);
        }
        FileDescriptors.writeFully(conn, PidResponse.of(reply.applyAsInt(pid)).encode());
      } catch (Exception e) {
        if (!closing) {
          e.printStackTrace();
        }
      } finally {
        FileDescriptors.closeQuietly(conn);
      }
    }
  }

  /** sh starts argv in the background, prints its pid on fd 4 and exits. */
  private static int doubleFork(List<String> argv, int emperorPipe) {
    int[] out = UnixSockets.socketPair();
    try {
      List<String> shArgv = new java.util.ArrayList<>(List.of("sh", "-c", "\"$@\" 4>&- & echo $! >&4", "sh"));
      shArgv.addAll(argv);
      PosixSpawn.spawn(new PosixSpawn.Request("/bin/sh", shArgv,
          Map.of("UWSGI_EMPEROR_FD", "3", "PATH", "/usr/bin:/bin"), Map.of(3, emperorPipe, 4, out[1]), false));
      FileDescriptors.close(out[1]);
      out[1] = -1;
      StringBuilder line = new StringBuilder();
      byte[] buf = new byte[32];
      int n;
      while ((n = FileDescriptors.read(out[0], buf, buf.length)) > 0) {
        line.append(new String(buf, 0, n, StandardCharsets.US_ASCII));
      }
      return Integer.parseInt(line.toString().trim());
    } finally {
      FileDescriptors.closeQuietly(out[0]);
      if (out[1] >= 0) {
        FileDescriptors.closeQuietly(out[1]);
      }
    }
  }

  @Override
  public void close() throws Exception {
    closing = true;
    // shutdown() would be cleaner, but connecting once also unblocks accept()
    try {
      FileDescriptors.close(UnixSockets.connect(socket));
    } catch (RuntimeException ignored) {
      // already gone
    }
    thread.join(5000);
    FileDescriptors.close(listenFd);
    Files.deleteIfExists(socket);
  }
}
