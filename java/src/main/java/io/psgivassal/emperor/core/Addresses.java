package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.ListenAddress;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** Turning a {@link ListenAddress} into an IP address to bind. */
final class Addresses {
  private Addresses() {}

  /** Name resolution (DNS, /etc/hosts); a test swaps it. Never called for an address literal. */
  static volatile Resolver resolver = InetAddress::getByName;

  /** Resolves a host name. */
  @FunctionalInterface
  interface Resolver {
    InetAddress resolve(String host) throws UnknownHostException;
  }

  /** Whether binding it means resolving a host name, which may block on a slow resolver: never on the loop. */
  static boolean needsResolver(ListenAddress a) {
    if (!a.isTcp()) {
      return false;
    }
    String h = a.host().orElseThrow();
    return !(h.isEmpty() || h.equals("*") || com.google.common.net.InetAddresses.isInetAddress(h));
  }

  /**
   * The address to bind: an empty host, "*" or "0.0.0.0" mean every IPv4 interface, as in uWSGI.
   * A literal is parsed without a resolver; a name is resolved ({@link #needsResolver}).
   */
  static InetAddress inetAddress(ListenAddress a) {
    String h = a.host().orElseThrow();
    if (h.isEmpty() || h.equals("*")) {
      return com.google.common.net.InetAddresses.forString("0.0.0.0");
    }
    if (com.google.common.net.InetAddresses.isInetAddress(h)) {
      return com.google.common.net.InetAddresses.forString(h);
    }
    try {
      return resolver.resolve(h);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("socket address '" + a.text() + "': unknown host '" + h + "'", e);
    }
  }
}
