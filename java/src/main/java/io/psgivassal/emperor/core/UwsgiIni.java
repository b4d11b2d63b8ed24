package io.psgivassal.emperor.core;

import io.psgivassal.emperor.ini.Ini;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The [uwsgi] section of a vassal's ini, read only for display (the vassal parses its own
 * config): a missing or odd file yields an empty section, never an error.
 */
final class UwsgiIni {
  private static final String SECTION = "uwsgi";
  private final Ini ini;

  private UwsgiIni(Ini ini) {
    this.ini = ini;
  }

  static UwsgiIni read(Path file) {
    try {
      return parse(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IOException | RuntimeException e) {
      return parse("");
    }
  }

  static UwsgiIni parse(String text) {
    return new UwsgiIni(Ini.parse(text));
  }

  Optional<String> get(String key) {
    return ini.first(SECTION, key);
  }

  /** Every socket and http-socket value, in order (each key may repeat). */
  List<String> sockets() {
    return ini.section(SECTION).stream().filter(e -> e.getKey().equals("socket") || e.getKey().equals("http-socket"))
        .map(Map.Entry::getValue).toList();
  }

  /** http-socket as a URL a human can click: wildcard or empty hosts become 127.0.0.1. */
  Optional<URI> httpUrl() {
    return get("http-socket").flatMap(UwsgiIni::toUrl);
  }

  static Optional<URI> toUrl(String socket) {
    String s = socket.split(",")[0].strip();
    int colon = s.lastIndexOf(':');
    if (colon < 0 || s.contains("/")) {
      return Optional.empty(); // a UNIX socket or something we do not understand
    }
    String host = s.substring(0, colon);
    String port = s.substring(colon + 1);
    if (!port.matches("[0-9]{1,5}")) {
      return Optional.empty();
    }
    if (host.isEmpty() || host.equals("0.0.0.0") || host.equals("*")) {
      host = "127.0.0.1";
    } else if (host.equals("[::]")) {
      host = "[::1]";
    }
    try {
      return Optional.of(URI.create("http://" + host + ":" + port + "/"));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }
}
