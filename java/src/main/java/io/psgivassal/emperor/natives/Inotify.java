package io.psgivassal.emperor.natives;

import com.sun.jna.Native;
import java.io.Closeable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A non-blocking, close-on-exec inotify instance, read by the Emperor's epoll loop. Unlike the JDK's
 * WatchService it tells {@code IN_CLOSE_WRITE} and {@code IN_MOVED_TO} (a file that is complete)
 * from {@code IN_CREATE} and {@code IN_MODIFY} (one still being written), and needs no thread.
 */
public final class Inotify implements Closeable {
  public static final int IN_MODIFY = 0x2;
  public static final int IN_ATTRIB = 0x4;
  public static final int IN_CLOSE_WRITE = 0x8;
  public static final int IN_MOVED_FROM = 0x40;
  public static final int IN_MOVED_TO = 0x80;
  public static final int IN_CREATE = 0x100;
  public static final int IN_DELETE = 0x200;
  public static final int IN_DELETE_SELF = 0x400;
  public static final int IN_MOVE_SELF = 0x800;
  public static final int IN_UNMOUNT = 0x2000;
  public static final int IN_Q_OVERFLOW = 0x4000;
  public static final int IN_IGNORED = 0x8000;
  public static final int IN_ONLYDIR = 0x0100_0000;
  public static final int IN_ISDIR = 0x4000_0000;

  private static final int HEADER = 16; // struct inotify_event: wd, mask, cookie, len
  private static final int EINVAL = 22;

  /** One event; {@code name} is empty for events on the watched directory itself. */
  public record Event(int wd, int mask, String name) {
    public boolean is(int bits) {
      return (mask & bits) != 0;
    }
  }

  private final int fd;
  // room for many events per read(); a name is at most NAME_MAX + 1 bytes
  private final byte[] buf = new byte[64 * 1024];
  private boolean closed;

  private Inotify(int fd) {
    this.fd = fd;
  }

  /** @throws NativeException naming inotify_init1 (e.g. EMFILE: the per-user instance limit) */
  public static Inotify create() {
    int fd = LibC.INSTANCE.inotify_init1(LibC.O_NONBLOCK | LibC.O_CLOEXEC);
    if (fd < 0) {
      throw NativeException.last("inotify_init1");
    }
    return new Inotify(fd);
  }

  public int fd() {
    return fd;
  }

  /** @return the watch descriptor; @throws NativeException naming the call and the path */
  public int addWatch(Path path, int mask) {
    int wd = LibC.INSTANCE.inotify_add_watch(fd, path.toString(), mask);
    if (wd < 0) {
      throw NativeException.last("inotify_add_watch(" + path + ")");
    }
    return wd;
  }

  /** Removes a watch; one the kernel already dropped (EINVAL) is not an error. */
  public void removeWatch(int wd) {
    if (LibC.INSTANCE.inotify_rm_watch(fd, wd) < 0) {
      int errno = Native.getLastError();
      if (errno != EINVAL) {
        throw new NativeException("inotify_rm_watch", errno);
      }
    }
  }

  /** Reads every event queued now; empty when there is none. */
  public List<Event> drain() {
    List<Event> events = new ArrayList<>();
    while (true) {
      long n = LibC.INSTANCE.read(fd, buf, buf.length);
      if (n < 0) {
        int errno = Native.getLastError();
        if (errno == LibC.EINTR) {
          continue;
        }
        if (errno == LibC.EAGAIN) {
          return events;
        }
        throw new NativeException("read(inotify)", errno);
      }
      if (n == 0) {
        return events;
      }
      parse(ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder()), events);
    }
  }

  static void parse(ByteBuffer b, List<Event> into) {
    while (b.remaining() >= HEADER) {
      int wd = b.getInt();
      int mask = b.getInt();
      b.getInt(); // cookie: pairs MOVED_FROM with MOVED_TO; each side is handled alone here
      int len = b.getInt();
      byte[] raw = new byte[len];
      b.get(raw);
      int end = 0;
      while (end < len && raw[end] != 0) {
        end++; // the name is NUL-padded to an alignment boundary
      }
      into.add(new Event(wd, mask, new String(raw, 0, end, StandardCharsets.UTF_8)));
    }
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      FileDescriptors.close(fd);
    }
  }
}
