package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.PosixSpawn;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ForkServerRequest;
import io.psgivassal.emperor.protocol.PidResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in fork server: for each request it spawns argv[0] (a test script) with the received
 * Emperor pipe at fd 3 and replies with its pid. The child is the JVM's own child rather than a
 * re-parented grandchild, which is all the Emperor can tell apart anyway.
 */
final class FakeForkServer implements AutoCloseable {
  final List<ForkServerRequest> requests = new CopyOnWriteArrayList<>();
  private final Path socket;
  private final int listenFd;
  private final Thread thread;
  private volatile boolean closing;

  FakeForkServer(Path socket) {
    this.socket = socket;
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
        int pid = PosixSpawn.spawn(new PosixSpawn.Request(req.argv().get(0), req.argv(),
            Map.of("UWSGI_EMPEROR_FD", "3", "PATH", "/usr/bin:/bin"), Map.of(3, got.fds()[0])));
        for (int fd : got.fds()) {
          FileDescriptors.close(fd);
        }
        FileDescriptors.writeFully(conn, PidResponse.of(pid).encode());
      } catch (Exception e) {
        if (!closing) {
          e.printStackTrace();
        }
      } finally {
        FileDescriptors.closeQuietly(conn);
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
