package io.psgivassal.emperor.natives;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * AF_UNIX stream sockets: socketpairs for Emperor pipes, connections to a fork server, and
 * descriptor passing with SCM_RIGHTS. Every socket is created close-on-exec; descriptors reach a
 * vassal only through posix_spawn's dup2 actions or an explicit SCM_RIGHTS message.
 */
public final class UnixSockets {
  private static final int AF_UNIX = 1;
  private static final int SOCK_STREAM = 1;
  private static final int SOCK_NONBLOCK = LibC.O_NONBLOCK;
  private static final int SOCK_CLOEXEC = LibC.O_CLOEXEC;
  private static final int SOL_SOCKET = 1;
  private static final int SCM_RIGHTS = 1;
  private static final int MSG_DONTWAIT = 0x40;
  private static final int MSG_NOSIGNAL = 0x4000;
  private static final int MSG_CMSG_CLOEXEC = 0x40000000;
  private static final int SUN_PATH_MAX = 108;

  /** Returned by the non-blocking calls when the operation would block. */
  public static final int WOULD_BLOCK = -1;

  // struct msghdr on x86_64 (56 bytes)
  private static final int MSGHDR_SIZE = 56;
  private static final int MSG_IOV = 16;
  private static final int MSG_IOVLEN = 24;
  private static final int MSG_CONTROL = 32;
  private static final int MSG_CONTROLLEN = 40;
  private static final int MSG_FLAGS = 48;
  // struct iovec (16 bytes)
  private static final int IOVEC_SIZE = 16;
  // struct cmsghdr: size_t cmsg_len@0, int cmsg_level@8, int cmsg_type@12, data@16
  private static final int CMSG_HDR = 16;
  private static final int MSG_CTRUNC = 0x8;

  private UnixSockets() {}

  /** CMSG_ALIGN: control data is padded to sizeof(size_t). */
  static int cmsgAlign(int len) {
    return (len + 7) & ~7;
  }

  static int cmsgSpace(int dataLen) {
    return CMSG_HDR + cmsgAlign(dataLen);
  }

  static int cmsgLen(int dataLen) {
    return CMSG_HDR + dataLen;
  }

  /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). Both ends block; callers use MSG_DONTWAIT. */
  public static int[] socketPair() {
    int[] sv = new int[2];
    if (LibC.INSTANCE.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      throw NativeException.last("socketpair");
    }
    return sv;
  }

  /**
   * A non-blocking, close-on-exec stream socket connected to {@code path}. A UNIX-domain connect
   * completes or fails at once (EAGAIN when the listener's backlog is full, never EINPROGRESS), so
   * it never stalls the event loop. The socket is closed again if connect fails.
   */
  public static int connect(Path path) {
    byte[] addr = sockaddrUn(path);
    int fd = LibC.INSTANCE.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      throw NativeException.last("socket");
    }
    while (true) {
      if (LibC.INSTANCE.connect(fd, addr, addr.length) == 0) {
        return fd;
      }
      int errno = Native.getLastError();
      if (errno == LibC.EINTR) {
        continue;
      }
      FileDescriptors.closeQuietly(fd);
      throw new NativeException("connect(" + path + ")", errno);
    }
  }

  /** The credentials of a UNIX socket's peer, as the kernel recorded them. */
  public record PeerCredentials(int pid, int uid, int gid) {}

  private static final int SO_PEERCRED = 17;

  /**
   * getsockopt(SO_PEERCRED): for a connected socket, the process that called listen() or
   * socketpair() on the other end, as of that call. The kernel fills it in; the peer cannot lie.
   * The pid is 0 when the peer lives in another pid namespace.
   */
  public static PeerCredentials peerCredentials(int fd) {
    int[] ucred = new int[3];
    int[] len = {12};
    if (LibC.INSTANCE.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, len) != 0) {
      throw NativeException.last("getsockopt(SO_PEERCRED)");
    }
    return new PeerCredentials(ucred[0], ucred[1], ucred[2]);
  }

  /** A close-on-exec listening socket bound to {@code path} (blocking accept). */
  public static int listen(Path path, int backlog) {
    return listen(path, backlog, false);
  }

  /**
   * A close-on-exec listening socket bound to {@code path}. A non-blocking one is for the event
   * loop's own accepts; a socket handed to a vassal must stay blocking, because O_NONBLOCK lives
   * in the open file description the vassal shares.
   */
  public static int listen(Path path, int backlog, boolean nonBlocking) {
    byte[] addr = sockaddrUn(path);
    int fd = LibC.INSTANCE.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
      throw NativeException.last("socket");
    }
    if (LibC.INSTANCE.bind(fd, addr, addr.length) != 0) {
      NativeException e = NativeException.last("bind(" + path + ")");
      FileDescriptors.closeQuietly(fd);
      throw e;
    }
    if (LibC.INSTANCE.listen(fd, backlog) != 0) {
      NativeException e = NativeException.last("listen");
      FileDescriptors.closeQuietly(fd);
      throw e;
    }
    return fd;
  }

  /** accept4(SOCK_CLOEXEC), retrying EINTR. */
  public static int accept(int listenFd) {
    while (true) {
      int fd = LibC.INSTANCE.accept4(listenFd, null, null, SOCK_CLOEXEC);
      if (fd >= 0) {
        return fd;
      }
      int errno = Native.getLastError();
      if (errno != LibC.EINTR) {
        throw new NativeException("accept4", errno);
      }
    }
  }

  /**
   * Non-blocking accept4(SOCK_CLOEXEC | SOCK_NONBLOCK) on a listening socket of any family.
   *
   * @return the connection, or {@link #WOULD_BLOCK} when none is pending (or it was aborted)
   */
  public static int acceptNonBlocking(int listenFd) {
    while (true) {
      int fd = LibC.INSTANCE.accept4(listenFd, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        return fd;
      }
      int errno = Native.getLastError();
      if (errno == LibC.EINTR) {
        continue;
      }
      if (errno == LibC.EAGAIN || errno == LibC.ECONNABORTED) {
        return WOULD_BLOCK;
      }
      throw new NativeException("accept4", errno);
    }
  }

  /**
   * Non-blocking send of {@code data[off..]} on any stream socket, without SIGPIPE.
   *
   * @return bytes sent, or {@link #WOULD_BLOCK}
   */
  public static int sendNonBlocking(int fd, byte[] data, int off) {
    byte[] rest = off == 0 ? data : Arrays.copyOfRange(data, off, data.length);
    return nonBlocking("send", () -> LibC.INSTANCE.send(fd, rest, rest.length, MSG_DONTWAIT | MSG_NOSIGNAL));
  }

  /**
   * Runs a non-blocking socket call until it is not interrupted: its result, {@link #WOULD_BLOCK}
   * on EAGAIN, or a {@link NativeException} naming {@code call}.
   */
  private static int nonBlocking(String call, java.util.function.LongSupplier op) {
    while (true) {
      long r = op.getAsLong();
      if (r >= 0) {
        return (int) r;
      }
      int errno = Native.getLastError();
      if (errno == LibC.EINTR) {
        continue;
      }
      if (errno == LibC.EAGAIN) {
        return WOULD_BLOCK;
      }
      throw new NativeException(call, errno);
    }
  }

  private static byte[] sockaddrUn(Path path) {
    byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
    if (p.length >= SUN_PATH_MAX) {
      throw new IllegalArgumentException("UNIX socket path longer than " + (SUN_PATH_MAX - 1) + " bytes: " + path);
    }
    byte[] addr = new byte[2 + p.length + 1];
    addr[0] = AF_UNIX; // sa_family_t, little-endian u16
    System.arraycopy(p, 0, addr, 2, p.length);
    return addr;
  }

  /**
   * One sendmsg(2) carrying {@code data} and, when {@code fds} is non-empty, all of them in a
   * single SCM_RIGHTS control message (the layout uWSGI's fork server expects).
   *
   * @return bytes sent (possibly fewer than data.length), or {@link #WOULD_BLOCK}
   */
  public static int sendWithFds(int fd, byte[] data, int[] fds) {
    int dataLen = Math.max(1, data.length);
    try (Memory buf = new Memory(dataLen);
        Memory iov = new Memory(IOVEC_SIZE);
        Memory msg = new Memory(MSGHDR_SIZE);
        Memory control = fds.length == 0 ? null : new Memory(cmsgSpace(4 * fds.length))) {
      buf.write(0, data, 0, data.length);
      iov.setPointer(0, buf);
      iov.setLong(8, data.length);
      msg.clear();
      msg.setPointer(MSG_IOV, iov);
      msg.setLong(MSG_IOVLEN, 1);
      if (control != null) {
        control.clear();
        control.setLong(0, cmsgLen(4 * fds.length));
        control.setInt(8, SOL_SOCKET);
        control.setInt(12, SCM_RIGHTS);
        control.write(CMSG_HDR, fds, 0, fds.length);
        msg.setPointer(MSG_CONTROL, control);
        msg.setLong(MSG_CONTROLLEN, control.size());
      }
      return nonBlocking("sendmsg", () -> LibC.INSTANCE.sendmsg(fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT));
    }
  }

  /** Bytes and descriptors received by {@link #recvWithFds}; the descriptors are close-on-exec. */
  public record Received(byte[] data, int[] fds, boolean controlTruncated) {}

  /**
   * Blocking recvmsg(2) of up to {@code maxBytes} bytes and {@code maxFds} descriptors
   * (MSG_CMSG_CLOEXEC, so received descriptors do not leak into later spawns).
   */
  public static Received recvWithFds(int fd, int maxBytes, int maxFds) {
    int controlSize = cmsgSpace(4 * maxFds);
    try (Memory buf = new Memory(Math.max(1, maxBytes));
        Memory iov = new Memory(IOVEC_SIZE);
        Memory msg = new Memory(MSGHDR_SIZE);
        Memory control = new Memory(controlSize)) {
      iov.setPointer(0, buf);
      iov.setLong(8, maxBytes);
      control.clear();
      msg.clear();
      msg.setPointer(MSG_IOV, iov);
      msg.setLong(MSG_IOVLEN, 1);
      msg.setPointer(MSG_CONTROL, control);
      msg.setLong(MSG_CONTROLLEN, controlSize);
      long r;
      while (true) {
        r = LibC.INSTANCE.recvmsg(fd, msg, MSG_CMSG_CLOEXEC);
        if (r >= 0) {
          break;
        }
        int errno = Native.getLastError();
        if (errno != LibC.EINTR) {
          throw new NativeException("recvmsg", errno);
        }
      }
      byte[] data = buf.getByteArray(0, (int) r);
      int[] fds = parseRights(control, msg.getLong(MSG_CONTROLLEN));
      return new Received(data, fds, (msg.getInt(MSG_FLAGS) & MSG_CTRUNC) != 0);
    }
  }

  private static int[] parseRights(Pointer control, long controlLen) {
    int[] out = new int[0];
    long off = 0;
    // CMSG_FIRSTHDR / CMSG_NXTHDR
    while (off + CMSG_HDR <= controlLen) {
      long len = control.getLong(off);
      if (len < CMSG_HDR) {
        break;
      }
      int level = control.getInt(off + 8);
      int type = control.getInt(off + 12);
      if (level == SOL_SOCKET && type == SCM_RIGHTS) {
        int n = (int) ((len - CMSG_HDR) / 4);
        int[] more = control.getIntArray(off + CMSG_HDR, n);
        int[] merged = Arrays.copyOf(out, out.length + n);
        System.arraycopy(more, 0, merged, out.length, n);
        out = merged;
      }
      off += cmsgAlign((int) len);
    }
    return out;
  }

  /**
   * Non-blocking recv(2) into {@code buf}.
   *
   * @return bytes read, 0 at EOF, or {@link #WOULD_BLOCK}
   */
  public static int recv(int fd, byte[] buf) {
    return nonBlocking("recv", () -> LibC.INSTANCE.recv(fd, buf, buf.length, MSG_DONTWAIT));
  }

  /**
   * Non-blocking send of one byte (an Emperor-pipe message), without SIGPIPE.
   *
   * @return false if the socket buffer is full
   */
  public static boolean sendByte(int fd, int b) {
    byte[] one = {(byte) b};
    // a stream socket takes one byte whole or not at all
    return nonBlocking("send", () -> LibC.INSTANCE.send(fd, one, 1, MSG_DONTWAIT | MSG_NOSIGNAL)) == 1;
  }

  /**
   * shutdown(SHUT_WR): the peer reads EOF after what was sent, and a close that follows cannot
   * turn into a reset that destroys unread data. Errors (the peer is gone) are ignored.
   */
  public static void shutdownOutput(int fd) {
    LibC.INSTANCE.shutdown(fd, 1);
  }

  /** Blocking read of one byte; -1 at EOF. */
  public static int readByte(int fd) {
    byte[] one = new byte[1];
    return FileDescriptors.read(fd, one, 1) == 0 ? -1 : one[0] & 0xff;
  }

  /** Blocking write of one byte. */
  public static void writeByte(int fd, int b) {
    FileDescriptors.writeFully(fd, new byte[] {(byte) b});
  }
}
