package io.psgivassal.emperor.natives;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import java.io.Closeable;

/** An epoll instance (close-on-exec) with a reusable native event buffer. */
public final class Epoll implements Closeable {
  public static final int EPOLLIN = 0x001;
  public static final int EPOLLOUT = 0x004;
  public static final int EPOLLERR = 0x008;
  public static final int EPOLLHUP = 0x010;
  public static final int EPOLLRDHUP = 0x2000;

  private static final int EPOLL_CLOEXEC = LibC.O_CLOEXEC;
  private static final int EPOLL_CTL_ADD = 1;
  private static final int EPOLL_CTL_DEL = 2;
  private static final int EPOLL_CTL_MOD = 3;
  // struct epoll_event is __attribute__((packed)) on x86_64: u32 events@0, u64 data@4.
  static final int EVENT_SIZE = 12;

  private final int fd;
  private final Memory ctlEvent = new Memory(EVENT_SIZE);
  private final Memory events;
  private final int maxEvents;
  private boolean closed;

  private Epoll(int fd, int maxEvents) {
    this.fd = fd;
    this.maxEvents = maxEvents;
    this.events = new Memory((long) EVENT_SIZE * maxEvents);
  }

  public static Epoll create(int maxEvents) {
    int fd = LibC.INSTANCE.epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
      throw NativeException.last("epoll_create1");
    }
    return new Epoll(fd, maxEvents);
  }

  public int fd() {
    return fd;
  }

  public void add(int target, int interest, long data) {
    ctl(EPOLL_CTL_ADD, target, interest, data, "epoll_ctl(ADD)");
  }

  public void modify(int target, int interest, long data) {
    ctl(EPOLL_CTL_MOD, target, interest, data, "epoll_ctl(MOD)");
  }

  public void delete(int target) {
    ctl(EPOLL_CTL_DEL, target, 0, 0, "epoll_ctl(DEL)");
  }

  private void ctl(int op, int target, int interest, long data, String call) {
    ctlEvent.setInt(0, interest);
    ctlEvent.setLong(4, data);
    if (LibC.INSTANCE.epoll_ctl(fd, op, target, ctlEvent) != 0) {
      throw NativeException.last(call);
    }
  }

  /**
   * Waits up to {@code timeoutMillis} (-1: forever). An interrupted wait (EINTR) counts as zero
   * events, so the caller simply recomputes its timers. Read results with {@link #events(int)}
   * and {@link #data(int)}.
   */
  public int await(int timeoutMillis) {
    int n = LibC.INSTANCE.epoll_wait(fd, events, maxEvents, timeoutMillis);
    if (n < 0) {
      int errno = Native.getLastError();
      if (errno == LibC.EINTR) {
        return 0;
      }
      throw new NativeException("epoll_wait", errno);
    }
    return n;
  }

  public int events(int i) {
    return events.getInt((long) i * EVENT_SIZE);
  }

  public long data(int i) {
    return events.getLong((long) i * EVENT_SIZE + 4);
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      FileDescriptors.close(fd);
      events.close();
      ctlEvent.close();
    }
  }
}
