package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.TcpSockets;
import io.psgivassal.emperor.natives.UnixSockets;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A listening socket the Emperor bound itself: an on-demand vassal's socket or the stats server's.
 * Closing it also removes the UNIX socket file, so nothing is left behind.
 */
final class BoundSocket implements Closeable {
  private static final int BACKLOG = 4096;

  private final ListenAddress address;
  private final int fd;
  private boolean closed;

  private BoundSocket(ListenAddress address, int fd) {
    this.address = address;
    this.fd = fd;
  }

  /**
   * Binds {@code address}. A UNIX path is unlinked first if it is a stale socket (as uWSGI does)
   * and made 0666 when {@code worldWritable} (uWSGI's on-demand sockets are, so that a front end
   * running as another user can connect).
   *
   * @throws IllegalArgumentException naming the address and the failing call
   */
  static BoundSocket bind(ListenAddress address, boolean nonBlocking, boolean worldWritable) {
    try {
      if (address.isTcp()) {
        return new BoundSocket(address, TcpSockets.listen(address.inetAddress(), address.port(), BACKLOG, nonBlocking));
      }
      Path path = address.unixPath().orElseThrow();
      if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        if (!isSocket(path)) {
          throw new IllegalArgumentException(path + " exists and is not a socket");
        }
        Files.delete(path);
      }
      int fd = UnixSockets.listen(path, BACKLOG, nonBlocking);
      if (worldWritable) {
        try {
          Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw-rw-"));
        } catch (IOException | RuntimeException e) {
          FileDescriptors.closeQuietly(fd);
          Files.deleteIfExists(path);
          throw new IllegalArgumentException("chmod 0666 " + path + ": " + e.getMessage(), e);
        }
      }
      return new BoundSocket(address, fd);
    } catch (IOException e) {
      throw new IllegalArgumentException("socket " + address + ": " + e.getMessage(), e);
    } catch (io.psgivassal.emperor.natives.NativeException e) {
      throw new IllegalArgumentException(e.getMessage(), e); // names the call and the address
    }
  }

  private static boolean isSocket(Path p) throws IOException {
    Object mode = Files.getAttribute(p, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
    return mode instanceof Integer m && (m & 0xF000) == 0xC000; // S_IFSOCK
  }

  int fd() {
    return fd;
  }

  ListenAddress address() {
    return address;
  }

  /** The bound TCP port (useful when the address said port 0). */
  int localPort() {
    return TcpSockets.localPort(fd);
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    FileDescriptors.closeQuietly(fd);
    address.unixPath().ifPresent(p -> {
      try {
        Files.deleteIfExists(p);
      } catch (IOException e) {
        org.slf4j.LoggerFactory.getLogger(BoundSocket.class).warn("cannot remove socket file {}: {}", p, e.getMessage());
      }
    });
  }

  @Override
  public String toString() {
    return address.toString();
  }
}
