package io.psgivassal.emperor.api;

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

  @Override
  public String toString() {
    return text;
  }
}
