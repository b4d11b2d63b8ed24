package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ConfigPacket;
import java.time.Instant;
import java.util.function.Consumer;

/**
 * One process of a vassal and the descriptors that go with it: its pidfd (how the Emperor waits
 * for it and signals it without pid races), the Emperor's end of its pipe and, for a config sent
 * over the pipe, of its config pipe. Owned by the event loop thread.
 */
final class VassalInstance {
  final int pid;
  final boolean adopted;
  final Instant born = Instant.now();
  private int pidfd;
  private int pipeFd;
  private int configFd;
  /** The config packet being written, {@link #configSent} bytes of it so far; null when none is. */
  private byte[] configSending;
  private int configSent;
  /** The newest packet pushed while another was being written. */
  private byte[] configWaiting;
  /** Whether the loop watches the config pipe for EPOLLOUT. */
  private boolean configWatched;
  /** When the Emperor condemned it (stop sent, or its pipe closed); null while it is wanted. */
  Instant cursedAt;
  /** The byte sent to stop it, if any: a second stop request is then only a change of intent. */
  boolean stopSent;
  EventLoop.Timer killTimer;
  private boolean closed;

  /** SIGKILL through a pidfd; a test makes it a no-op to fake a process that survives it. */
  static volatile java.util.function.IntConsumer killer = fd -> Signals.pidfdSendSignal(fd, Signals.SIGKILL);

  VassalInstance(int pid, int pidfd, int pipeFd, int configFd, boolean adopted) {
    this.pid = pid;
    this.pidfd = pidfd;
    this.pipeFd = pipeFd;
    this.configFd = configFd;
    this.adopted = adopted;
  }

  int pidfd() {
    return pidfd;
  }

  /** The pidfd opened late (pidfd_open failed at the start for want of descriptors). */
  void attachPidfd(int fd) {
    this.pidfd = fd;
  }

  /** Whether {@link #closeAll} ran: the process was reaped or abandoned. */
  boolean closed() {
    return closed;
  }

  int pipeFd() {
    return pipeFd;
  }

  boolean hasPipe() {
    return pipeFd >= 0;
  }

  /**
   * Sends one Emperor-pipe byte without blocking.
   *
   * @return false when the pipe is closed, broken or full: the caller must not count on delivery
   */
  boolean send(int b) {
    if (pipeFd < 0) {
      return false;
    }
    try {
      return UnixSockets.sendByte(pipeFd, b);
    } catch (NativeException e) {
      return false; // EPIPE / ECONNRESET: the vassal is going away
    }
  }

  /**
   * Sends a config packet on the config pipe (after the start, and whenever the vassal sends 2)
   * without blocking. The vassal reads the pipe as a stream of packets, so a packet once begun is
   * always finished, never followed by the start of another: what the socket does not take now is
   * written when it is writable again (EPOLLOUT on the loop), and a packet pushed meanwhile waits
   * behind it, a newer one replacing a waiting one (only the newest config matters).
   *
   * @param failed told what went wrong, now or when the rest is written later
   */
  void pushConfig(ConfigPacket packet, EventLoop loop, Consumer<String> failed) {
    if (configFd < 0) {
      failed.accept("it has no config pipe");
      return;
    }
    if (configSending != null) {
      configWaiting = packet.encode();
      return;
    }
    configSending = packet.encode();
    configSent = 0;
    flushConfig(loop, failed);
  }

  private void flushConfig(EventLoop loop, Consumer<String> failed) {
    try {
      while (configSending != null) {
        int n = UnixSockets.sendNonBlocking(configFd, configSending, configSent);
        if (n == UnixSockets.WOULD_BLOCK) {
          if (!configWatched) {
            loop.register(configFd, Epoll.EPOLLOUT, events -> flushConfig(loop, failed));
            configWatched = true;
          }
          return;
        }
        configSent += n;
        if (configSent == configSending.length) {
          configSending = configWaiting;
          configWaiting = null;
          configSent = 0;
        }
      }
    } catch (NativeException e) {
      configSending = null; // EPIPE / ECONNRESET: the vassal closed its end, nothing will read the rest
      configWaiting = null;
      failed.accept("config pipe: " + e.getMessage());
    }
    unwatchConfig(loop);
  }

  private void unwatchConfig(EventLoop loop) {
    if (configWatched) {
      loop.unregister(configFd);
      configWatched = false;
    }
  }

  /**
   * SIGKILL through the pidfd: cannot hit a recycled pid. Without a pidfd (pidfd_open keeps
   * failing) a spawned vassal is killed by pid: it is our child, and its pid is not recycled
   * before we reap it; an adopted one (the fork server's child) is not signalled.
   */
  void kill() {
    if (closed) {
      return;
    }
    if (pidfd < 0) {
      if (!adopted) {
        try {
          Signals.kill(pid, Signals.SIGKILL);
        } catch (NativeException e) {
          // ESRCH: gone already
        }
      }
      return;
    }
    try {
      killer.accept(pidfd);
    } catch (NativeException e) {
      // ESRCH: it exited already; the pidfd reports that
    }
  }

  void closePipe(EventLoop loop) {
    if (pipeFd >= 0) {
      loop.unregister(pipeFd);
      FileDescriptors.closeQuietly(pipeFd);
      pipeFd = -1;
    }
  }

  /** Releases every descriptor; the process is reaped (or abandoned). */
  void closeAll(EventLoop loop) {
    closed = true;
    closePipe(loop);
    if (configFd >= 0) {
      unwatchConfig(loop);
      FileDescriptors.closeQuietly(configFd);
      configFd = -1;
    }
    if (pidfd >= 0) {
      loop.unregister(pidfd);
      FileDescriptors.closeQuietly(pidfd);
      pidfd = -1;
    }
    if (killTimer != null) {
      killTimer.cancel();
      killTimer = null;
    }
  }
}
