package io.psgivassal.emperor.core;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A socket address as uWSGI writes it: anything with a ':' is TCP ({@code host:port},
 * {@code :port} for every interface, {@code [v6]:port}), anything else a UNIX socket path.
 */
public record ListenAddress(String text, Optional<String> host, int port, Optional<Path> unixPath) {

  public static ListenAddress parse(String text) {
    String s = text.strip();
    if (s.isEmpty()) {
      throw new IllegalArgumentException("empty socket address");
    }
    int colon = s.lastIndexOf(':');
    if (colon < 0) {
      return new ListenAddress(s, Optional.empty(), 0, Optional.of(Path.of(s).toAbsolutePath().normalize()));
    }
    String host = s.substring(0, colon);
    String port = s.substring(colon + 1);
    if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
      throw new IllegalArgumentException("socket address '" + text + "': port '" + port + "' is not 0..65535");
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new ListenAddress(s, Optional.of(host), Integer.parseInt(port), Optional.empty());
  }

  /** A UNIX socket path, whatever characters it contains. */
  public static ListenAddress unix(Path path) {
    Path p = path.toAbsolutePath().normalize();
    return new ListenAddress(p.toString(), Optional.empty(), 0, Optional.of(p));
  }

  public boolean isTcp() {
    return unixPath.isEmpty();
  }

  /** Name resolution (DNS, /etc/hosts); a test swaps it. Never called for an address literal. */
  static volatile Resolver resolver = InetAddress::getByName;

  /** Resolves a host name. */
  @FunctionalInterface
  interface Resolver {
    InetAddress resolve(String host) throws UnknownHostException;
  }

  /** Whether binding it means resolving a host name, which may block on a slow resolver: never on the loop. */
  boolean needsResolver() {
    if (!isTcp()) {
      return false;
    }
    String h = host.orElseThrow();
    return !(h.isEmpty() || h.equals("*") || com.google.common.net.InetAddresses.isInetAddress(h));
  }

  /**
   * The address to bind: an empty host, "*" or "0.0.0.0" mean every IPv4 interface, as in uWSGI.
   * A literal is parsed without a resolver; a name is resolved ({@link #needsResolver}).
   */
  InetAddress inetAddress() {
    String h = host.orElseThrow();
    if (h.isEmpty() || h.equals("*")) {
      return com.google.common.net.InetAddresses.forString("0.0.0.0");
    }
    if (com.google.common.net.InetAddresses.isInetAddress(h)) {
      return com.google.common.net.InetAddresses.forString(h);
    }
    try {
      return resolver.resolve(h);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("socket address '" + text + "': unknown host '" + h + "'", e);
    }
  }

  @Override
  public String toString() {
    return text;
  }
}
