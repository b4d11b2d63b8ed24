package io.psgivassal.emperor.natives;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Listening TCP sockets as raw descriptors, for on-demand vassals (the descriptor is handed to
 * the vassal) and the stats server (served by the event loop). java.net sockets cannot do either:
 * their descriptors are neither inheritable nor visible to epoll.
 */
public final class TcpSockets {
  private static final int AF_INET = 2;
  private static final int AF_INET6 = 10;
  private static final int SOCK_STREAM = 1;
  private static final int SOL_SOCKET = 1;
  private static final int SO_REUSEADDR = 2;

  private TcpSockets() {}

  /**
   * A close-on-exec socket listening on {@code address:port} with SO_REUSEADDR (as uWSGI binds
   * on-demand sockets, so a restart does not wait out TIME_WAIT). Port 0 picks a free port; see
   * {@link #localPort}.
   *
   * @param nonBlocking only for sockets the event loop accepts on itself (see UnixSockets.listen)
   */
  public static int listen(InetAddress address, int port, int backlog, boolean nonBlocking) {
    byte[] sockaddr = sockaddr(address, port);
    int family = address instanceof Inet6Address ? AF_INET6 : AF_INET;
    int fd = LibC.INSTANCE.socket(family, SOCK_STREAM | LibC.O_CLOEXEC | (nonBlocking ? LibC.O_NONBLOCK : 0), 0);
    if (fd < 0) {
      throw NativeException.last("socket");
    }
    String where = address.getHostAddress() + ":" + port;
    if (LibC.INSTANCE.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, new int[] {1}, 4) != 0) {
      NativeException e = NativeException.last("setsockopt(SO_REUSEADDR)");
      FileDescriptors.closeQuietly(fd);
      throw e;
    }
    if (LibC.INSTANCE.bind(fd, sockaddr, sockaddr.length) != 0) {
      NativeException e = NativeException.last("bind(" + where + ")");
      FileDescriptors.closeQuietly(fd);
      throw e;
    }
    if (LibC.INSTANCE.listen(fd, backlog) != 0) {
      NativeException e = NativeException.last("listen(" + where + ")");
      FileDescriptors.closeQuietly(fd);
      throw e;
    }
    return fd;
  }

  /** The port a TCP socket is bound to (getsockname). */
  public static int localPort(int fd) {
    byte[] addr = new byte[128];
    int[] len = {addr.length};
    if (LibC.INSTANCE.getsockname(fd, addr, len) != 0) {
      throw NativeException.last("getsockname");
    }
    return ((addr[2] & 0xFF) << 8) | (addr[3] & 0xFF); // sin_port / sin6_port, network order
  }

  /** struct sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes); the port is in network order. */
  static byte[] sockaddr(InetAddress address, int port) {
    if (port < 0 || port > 0xFFFF) {
      throw new IllegalArgumentException("port " + port + " is not 0..65535");
    }
    boolean v6 = address instanceof Inet6Address;
    if (!v6 && !(address instanceof Inet4Address)) {
      throw new IllegalArgumentException("unsupported address " + address);
    }
    ByteBuffer b = ByteBuffer.allocate(v6 ? 28 : 16).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort((short) (v6 ? AF_INET6 : AF_INET));
    b.order(ByteOrder.BIG_ENDIAN).putShort((short) port);
    if (v6) {
      b.putInt(0); // sin6_flowinfo
      b.put(address.getAddress());
      b.order(ByteOrder.LITTLE_ENDIAN).putInt(((Inet6Address) address).getScopeId());
    } else {
      b.put(address.getAddress());
    }
    return b.array();
  }
}
