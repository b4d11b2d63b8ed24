package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.ListenAddress;
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
  /** The socket file's inode right after bind (UNIX), -1 for TCP. */
  private final long inode;
  private boolean closed;

  private BoundSocket(ListenAddress address, int fd) {
    this.address = address;
    this.fd = fd;
    this.inode = address.unixPath().map(BoundSocket::inode).orElse(-1L);
  }

  /** Is the UNIX socket file at our address still the one we bound (nobody unlinked and rebound it)? */
  boolean fileIsOurs() {
    return address.unixPath().map(p -> inode(p) == inode && inode != -1).orElse(true);
  }

  /** Closes the descriptor but leaves the file: it is somebody else's now (see {@link #fileIsOurs}). */
  void closeKeepingFile() {
    if (!closed) {
      closed = true;
      FileDescriptors.closeQuietly(fd);
    }
  }

  /**
   * Binds {@code address}. A UNIX path is unlinked first if it is a stale socket (as uWSGI does)
   * and made 0666 when {@code worldWritable} (uWSGI's on-demand sockets are, so that a front end
   * running as another user can connect).
   *
   * @throws IllegalArgumentException naming the address and the failing call
   */
  static BoundSocket bind(ListenAddress address, boolean nonBlocking, boolean worldWritable) {
    return bind(address, nonBlocking, worldWritable ? "rw-rw-rw-" : null);
  }

  /**
   * Binds {@code address}; a UNIX socket gets {@code unixMode} ("rw-------", say; null leaves
   * the umask's). A UNIX path where a live process still listens is never taken over.
   *
   * @throws IllegalArgumentException naming the address and the failing call
   */
  static BoundSocket bind(ListenAddress address, boolean nonBlocking, String unixMode) {
    return bind(address, null, nonBlocking, unixMode);
  }

  /**
   * Binds {@code address}; a TCP one to {@code resolved} when not null (its host name resolved
   * off the event loop beforehand), else to {@link Addresses#inetAddress}.
   */
  static BoundSocket bind(ListenAddress address, java.net.InetAddress resolved, boolean nonBlocking, String unixMode) {
    try {
      if (address.isTcp()) {
        java.net.InetAddress ip = resolved != null ? resolved : Addresses.inetAddress(address);
        return new BoundSocket(address, TcpSockets.listen(ip, address.port(), BACKLOG, nonBlocking));
      }
      Path path = address.unixPath().orElseThrow();
      if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        if (!isSocket(path)) {
          throw new IllegalArgumentException(path + " exists and is not a socket");
        }
        if (listening(path)) {
          throw new IllegalArgumentException("socket " + path + ": another process listens on it");
        }
        Files.delete(path);
      }
      int fd = UnixSockets.listen(path, BACKLOG, nonBlocking);
      if (unixMode != null) {
        try {
          Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(unixMode));
        } catch (IOException | RuntimeException e) {
          FileDescriptors.closeQuietly(fd);
          Files.deleteIfExists(path);
          throw new IllegalArgumentException("chmod " + unixMode + " " + path + ": " + e.getMessage(), e);
        }
      }
      return new BoundSocket(address, fd);
    } catch (IOException e) {
      throw new IllegalArgumentException("socket " + address + ": " + e.getMessage(), e);
    } catch (io.psgivassal.emperor.natives.NativeException e) {
      throw new IllegalArgumentException(e.getMessage(), e); // names the call and the address
    }
  }

  /** Does a process accept on the UNIX socket at {@code path}? (Only ECONNREFUSED says no one does.) */
  private static boolean listening(Path path) {
    try {
      FileDescriptors.close(UnixSockets.connect(path));
      return true;
    } catch (io.psgivassal.emperor.natives.NativeException e) {
      return e.errno() != ECONNREFUSED;
    }
  }

  private static final int ECONNREFUSED = 111;

  /**
   * Removes the UNIX socket file at {@code path} if nobody listens on it any more (a process
   * killed with SIGKILL cannot remove its own); a regular file, or a socket that answers, stays.
   *
   * @return whether a file was removed
   * @throws IOException if a stale file cannot be removed
   */
  static boolean removeIfStale(Path path) throws IOException {
    if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS) || !isSocket(path) || listening(path)) {
      return false;
    }
    return Files.deleteIfExists(path);
  }

  /** The inode of the socket file at {@code path}, or -1: tells whether the file is still ours. */
  static long inode(Path path) {
    try {
      return ((Number) Files.getAttribute(path, "unix:ino", java.nio.file.LinkOption.NOFOLLOW_LINKS)).longValue();
    } catch (IOException | RuntimeException e) {
      return -1;
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
