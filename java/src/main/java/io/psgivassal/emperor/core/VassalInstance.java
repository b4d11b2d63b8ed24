package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ConfigPacket;
import java.time.Instant;

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
  /** When the Emperor condemned it (stop sent, or its pipe closed); null while it is wanted. */
  Instant cursedAt;
  /** The byte sent to stop it, if any: a second stop request is then only a change of intent. */
  boolean stopSent;
  EventLoop.Timer killTimer;

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
   * Writes the config packet on the config pipe (after the start, and whenever the vassal sends
   * 2). The socket buffer of a fresh socketpair holds a whole 64 KiB packet, so a non-blocking
   * write either goes through or the vassal has stopped reading.
   *
   * @return what went wrong, or null
   */
  String pushConfig(ConfigPacket packet) {
    if (configFd < 0) {
      return "it has no config pipe";
    }
    byte[] bytes = packet.encode();
    try {
      int off = 0;
      while (off < bytes.length) {
        int n = UnixSockets.sendNonBlocking(configFd, bytes, off);
        if (n == UnixSockets.WOULD_BLOCK) {
          return "config pipe full after " + off + " of " + bytes.length + " bytes";
        }
        off += n;
      }
      return null;
    } catch (NativeException e) {
      return "config pipe: " + e.getMessage();
    }
  }

  /** SIGKILL through the pidfd: cannot hit a recycled pid. */
  void kill() {
    if (pidfd < 0) {
      return;
    }
    try {
      Signals.pidfdSendSignal(pidfd, Signals.SIGKILL);
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
    closePipe(loop);
    if (configFd >= 0) {
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
