package io.psgivassal.emperor.natives;

/** Plain descriptor operations shared by the other wrappers. */
public final class FileDescriptors {
  private FileDescriptors() {}

  /**
   * Closes {@code fd}. EINTR is not retried: on Linux the descriptor is released even when close
   * reports EINTR, and a retry could close a descriptor another thread just received.
   */
  public static void close(int fd) {
    if (LibC.INSTANCE.close(fd) != 0) {
      int errno = com.sun.jna.Native.getLastError();
      if (errno != LibC.EINTR) {
        throw new NativeException("close", errno);
      }
    }
  }

  /** Closes {@code fd} if it is a descriptor (>= 0), swallowing errors; for cleanup paths. */
  public static void closeQuietly(int fd) {
    if (fd >= 0) {
      LibC.INSTANCE.close(fd);
    }
  }

  /** Duplicates {@code fd} to the lowest free number >= {@code minFd}, close-on-exec. */
  public static int dupCloexec(int fd, int minFd) {
    int r = LibC.INSTANCE.fcntl(fd, LibC.F_DUPFD_CLOEXEC, minFd);
    if (r < 0) {
      throw NativeException.last("fcntl(F_DUPFD_CLOEXEC)");
    }
    return r;
  }

  /** Reads up to {@code len} bytes, retrying EINTR; returns 0 at EOF. Blocks if the fd is blocking. */
  public static int read(int fd, byte[] buf, int len) {
    while (true) {
      long r = LibC.INSTANCE.read(fd, buf, len);
      if (r >= 0) {
        return (int) r;
      }
      int errno = com.sun.jna.Native.getLastError();
      if (errno != LibC.EINTR) {
        throw new NativeException("read", errno);
      }
    }
  }

  /** Writes all of {@code buf}, retrying EINTR and short writes. */
  public static void writeFully(int fd, byte[] buf) {
    int off = 0;
    while (off < buf.length) {
      byte[] rest = off == 0 ? buf : java.util.Arrays.copyOfRange(buf, off, buf.length);
      long r = LibC.INSTANCE.write(fd, rest, rest.length);
      if (r < 0) {
        int errno = com.sun.jna.Native.getLastError();
        if (errno == LibC.EINTR) {
          continue;
        }
        throw new NativeException("write", errno);
      }
      off += (int) r;
    }
  }

  /**
   * /dev/null opened read-write and close-on-exec: what a spawned vassal gets as stdin when no
   * on-demand socket goes there (uWSGI remaps fd 0 the same way), so it never reads the JVM's.
   */
  public static int openDevNull() {
    int fd = LibC.INSTANCE.open("/dev/null", O_RDWR | LibC.O_CLOEXEC);
    if (fd < 0) {
      throw NativeException.last("open(/dev/null)");
    }
    return fd;
  }

  private static final int O_RDWR = 2;

  /** The session id of the calling process. */
  public static int ownSessionId() {
    int sid = LibC.INSTANCE.getsid(0);
    if (sid < 0) {
      throw NativeException.last("getsid");
    }
    return sid;
  }
}
