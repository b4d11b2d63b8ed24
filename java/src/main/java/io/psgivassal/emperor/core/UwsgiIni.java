package io.psgivassal.emperor.core;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The [uwsgi] section of a vassal's ini, read only for display (the vassal parses its own
 * config): a missing or odd file yields an empty section, never an error.
 */
final class UwsgiIni {
  private final Map<String, String> options;
  private final java.util.List<String> sockets;

  private UwsgiIni(Map<String, String> options, java.util.List<String> sockets) {
    this.options = Collections.unmodifiableMap(options);
    this.sockets = java.util.List.copyOf(sockets);
  }

  static UwsgiIni read(Path file) {
    try {
      return parse(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IOException | RuntimeException e) {
      return new UwsgiIni(Map.of(), java.util.List.of());
    }
  }

  static UwsgiIni parse(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    java.util.List<String> sockets = new java.util.ArrayList<>();
    boolean inUwsgi = false;
    for (String raw : text.split("\r?\n")) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith(";") || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("[") && line.endsWith("]")) {
        inUwsgi = line.substring(1, line.length() - 1).strip().equals("uwsgi");
        continue;
      }
      int eq = line.indexOf('=');
      if (inUwsgi && eq > 0) {
        String key = line.substring(0, eq).strip();
        out.putIfAbsent(key, line.substring(eq + 1).strip());
        if (key.equals("socket") || key.equals("http-socket")) {
          sockets.add(line.substring(eq + 1).strip());
        }
      }
    }
    return new UwsgiIni(out, sockets);
  }

  Optional<String> get(String key) {
    return Optional.ofNullable(options.get(key));
  }

  /** Every socket and http-socket value, in order (each key may repeat). */
  java.util.List<String> sockets() {
    return sockets;
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
