package io.psgivassal.emperor.forkserver;

import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ForkServerRequest;
import io.psgivassal.emperor.protocol.PidResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

/**
 * Asks a uWSGI-2.1-compatible fork server for a new vassal. {@link #send} and
 * {@link PendingAdoption} are the non-blocking halves the Emperor's event loop drives;
 * {@link #adopt} chains them with a private epoll for tools and tests.
 */
public final class ForkServerClient {
  private final Path socketPath;

  /** @throws IllegalArgumentException if the path does not fit in sockaddr_un (107 bytes) */
  public ForkServerClient(Path socketPath) {
    this.socketPath = socketPath.toAbsolutePath();
    if (this.socketPath.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
      throw new IllegalArgumentException("fork-server socket path longer than 107 bytes: " + this.socketPath);
    }
  }

  public Path socketPath() {
    return socketPath;
  }

  /**
   * Connects (non-blocking) and sends the request packet with the descriptors in one sendmsg.
   * The caller may close its copies of the descriptors as soon as this returns: in-flight
   * SCM_RIGHTS descriptors stay referenced by the kernel.
   *
   * @throws ForkServerUnavailableException when nobody accepts on the socket (retry later)
   * @throws ForkServerException when the request could not be written
   */
  public PendingAdoption send(List<String> argv, AttachedFds fds) throws ForkServerException {
    byte[] packet = new ForkServerRequest(fds.mask(), argv).encode();
    int fd;
    try {
      fd = UnixSockets.connect(socketPath);
    } catch (NativeException e) {
      throw new ForkServerUnavailableException(e);
    }
    try {
      int sent = UnixSockets.sendWithFds(fd, packet, fds.inWireOrder());
      if (sent == UnixSockets.WOULD_BLOCK) {
        throw new ForkServerException("fork-server socket buffer full, request not sent", true);
      }
      if (sent < packet.length) {
        // The protocol allows the rest in plain writes; a fresh connection's buffer (>200 KiB by
        // default) takes a whole 64 KiB packet, so a second short write means trouble.
        int more = UnixSockets.sendWithFds(fd, Arrays.copyOfRange(packet, sent, packet.length), new int[0]);
        if (more != packet.length - sent) {
          throw new ForkServerException("fork-server request only partly sent (" + sent + "+" + more + " of "
              + packet.length + " bytes)", true);
        }
      }
      return new PendingAdoption(fd);
    } catch (NativeException e) {
      FileDescriptors.closeQuietly(fd);
      throw new ForkServerException("sending the fork-server request: " + e.getMessage(), true, e);
    } catch (ForkServerException e) {
      FileDescriptors.closeQuietly(fd);
      throw e;
    }
  }

  /**
   * Runs the whole client path once against itself - a request with a descriptor over a
   * socketpair, a pid reply read back through {@link PendingAdoption} - so that the JNA bindings,
   * classes and lambdas it needs are loaded before the first real adoption. Cold, they cost that
   * adoption 20-50 ms; an Emperor calls this at start, while its base vassal loads.
   *
   * @throws NativeException if the socketpair cannot be made (the first adoption would fail too)
   */
  public static void warmUp() {
    int[] pair = UnixSockets.socketPair();
    try (PendingAdoption pending = new PendingAdoption(pair[0])) {
      int self = (int) ProcessHandle.current().pid();
      AttachedFds fds = AttachedFds.of(pair[1], -1, -1);
      byte[] request = new ForkServerRequest(fds.mask(), List.of("warm-up")).encode();
      UnixSockets.sendWithFds(pair[0], request, fds.inWireOrder());
      UnixSockets.Received got = UnixSockets.recvWithFds(pair[1], request.length, 1);
      for (int fd : got.fds()) {
        FileDescriptors.closeQuietly(fd);
      }
      UnixSockets.sendNonBlocking(pair[1], PidResponse.of(self).toPacket().encode(), 0);
      OptionalInt pid = pending.onReadable();
      if (pid.orElse(-1) != self) {
        throw new IllegalStateException("fork-server client warm-up read back " + pid + ", not " + self);
      }
      FileDescriptors.closeQuietly(PidFds.open(self));
    } catch (ForkServerException e) {
      throw new IllegalStateException("fork-server client warm-up: " + e.getMessage(), e);
    } finally {
      FileDescriptors.closeQuietly(pair[1]);
    }
  }

  /**
   * Blocking convenience: send the request and wait up to {@code timeout} for the pid.
   *
   * @param configFd the config pipe, or -1
   * @param onDemandFd the on-demand socket, or -1
   */
  public int adopt(List<String> argv, int emperorFd, int configFd, int onDemandFd, Duration timeout)
      throws ForkServerException {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (PendingAdoption pending = send(argv, AttachedFds.of(emperorFd, configFd, onDemandFd));
        Epoll epoll = Epoll.create(1)) {
      epoll.add(pending.fd(), Epoll.EPOLLIN | Epoll.EPOLLRDHUP, pending.fd());
      while (true) {
        OptionalInt pid = pending.onReadable();
        if (pid.isPresent()) {
          return pid.getAsInt();
        }
        long leftMillis = Math.max(0, (deadline - System.nanoTime() + 999_999) / 1_000_000);
        if (leftMillis == 0) {
          throw new AdoptionTimeoutException(timeout);
        }
        epoll.await((int) Math.min(Integer.MAX_VALUE, leftMillis));
      }
    }
  }
}
