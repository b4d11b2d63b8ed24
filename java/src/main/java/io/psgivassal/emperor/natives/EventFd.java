package io.psgivassal.emperor.natives;

import com.sun.jna.Native;
import java.io.Closeable;

/** A non-blocking, close-on-exec eventfd used to wake an epoll loop from other threads. */
public final class EventFd implements Closeable {
  private static final int EFD_NONBLOCK = LibC.O_NONBLOCK;
  private static final int EFD_CLOEXEC = LibC.O_CLOEXEC;
  private static final byte[] ONE = {1, 0, 0, 0, 0, 0, 0, 0};

  private final int fd;
  private volatile boolean closed;

  private EventFd(int fd) {
    this.fd = fd;
  }

  public static EventFd create() {
    int fd = LibC.INSTANCE.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      throw NativeException.last("eventfd");
    }
    return new EventFd(fd);
  }

  public int fd() {
    return fd;
  }

  /** Adds one to the counter. A full counter (EAGAIN) already means "wake up", so it is ignored. */
  public void signal() {
    if (closed) {
      return;
    }
    if (LibC.INSTANCE.write(fd, ONE, 8) < 0) {
      int errno = Native.getLastError();
      if (errno != LibC.EAGAIN && errno != LibC.EINTR) {
        throw new NativeException("write(eventfd)", errno);
      }
    }
  }

  /** Resets the counter; returns how many signals were pending (0 if none). */
  public long drain() {
    byte[] buf = new byte[8];
    long r = LibC.INSTANCE.read(fd, buf, 8);
    if (r < 0) {
      int errno = Native.getLastError();
      if (errno == LibC.EAGAIN || errno == LibC.EINTR) {
        return 0;
      }
      throw new NativeException("read(eventfd)", errno);
    }
    return java.nio.ByteBuffer.wrap(buf).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      FileDescriptors.close(fd);
    }
  }
}
