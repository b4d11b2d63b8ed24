package io.psgivassal.emperor.pg;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Where a PostgreSQL server is, written the way libpq (and so uWSGI's pg monitor) takes it: the
 * {@code key=value} form ({@code host=db1 port=5432 dbname=fleet user=emperor password='a b'
 * sslmode=require}) or a {@code postgresql://user:password@host:port/dbname?sslmode=require} URI.
 * Connected through pgjdbc, which speaks TCP only: a {@code host} that is a socket directory is
 * refused with a message saying so.
 */
public final class ConnInfo {
  private static final Set<String> KEYS = Set.of("host", "hostaddr", "port", "dbname", "user", "password", "sslmode",
      "connect_timeout", "application_name");
  private final Map<String, String> values;

  private ConnInfo(Map<String, String> values) {
    this.values = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
    String host = host();
    if (host.startsWith("/")) {
      throw new IllegalArgumentException("connection '" + this + "': host " + host
          + " is a UNIX socket directory; the JDBC driver connects over TCP only (use host=127.0.0.1)");
    }
    String port = values.getOrDefault("port", "5432");
    if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
      throw new IllegalArgumentException("connection '" + this + "': port '" + port + "' is not a TCP port");
    }
  }

  /**
   * @throws IllegalArgumentException naming the connection string and what is wrong with it
   */
  public static ConnInfo parse(String text) {
    String t = text.strip();
    if (t.startsWith("postgresql://") || t.startsWith("postgres://")) {
      return fromUri(t);
    }
    Map<String, String> out = new LinkedHashMap<>();
    int i = 0;
    while (i < t.length()) {
      while (i < t.length() && Character.isWhitespace(t.charAt(i))) {
        i++;
      }
      if (i >= t.length()) {
        break;
      }
      int eq = t.indexOf('=', i);
      if (eq < 0) {
        throw new IllegalArgumentException("connection '" + text + "': expected key=value at '" + t.substring(i) + "'");
      }
      String key = t.substring(i, eq).strip();
      i = eq + 1;
      while (i < t.length() && t.charAt(i) == ' ') {
        i++;
      }
      StringBuilder v = new StringBuilder();
      if (i < t.length() && t.charAt(i) == '\'') {
        i++;
        boolean closed = false;
        while (i < t.length()) {
          char c = t.charAt(i++);
          if (c == '\\' && i < t.length()) {
            v.append(t.charAt(i++));
          } else if (c == '\'') {
            closed = true;
            break;
          } else {
            v.append(c);
          }
        }
        if (!closed) {
          throw new IllegalArgumentException("connection '" + text + "': unterminated quoted value of " + key);
        }
      } else {
        while (i < t.length() && !Character.isWhitespace(t.charAt(i))) {
          char c = t.charAt(i++);
          v.append(c == '\\' && i < t.length() ? t.charAt(i++) : c);
        }
      }
      put(out, key, v.toString(), text);
    }
    return new ConnInfo(out);
  }

  private static ConnInfo fromUri(String text) {
    URI u;
    try {
      u = new URI(text);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("connection '" + text + "' is not a valid URI: " + e.getMessage(), e);
    }
    Map<String, String> out = new LinkedHashMap<>();
    if (u.getHost() != null) {
      out.put("host", u.getHost());
    }
    if (u.getPort() > 0) {
      out.put("port", Integer.toString(u.getPort()));
    }
    if (u.getRawUserInfo() != null) {
      String[] up = u.getRawUserInfo().split(":", 2);
      out.put("user", decode(up[0]));
      if (up.length == 2) {
        out.put("password", decode(up[1]));
      }
    }
    if (u.getPath() != null && u.getPath().length() > 1) {
      out.put("dbname", decode(u.getPath().substring(1)));
    }
    if (u.getRawQuery() != null) {
      for (String kv : u.getRawQuery().split("&")) {
        String[] p = kv.split("=", 2);
        put(out, decode(p[0]), p.length == 2 ? decode(p[1]) : "", text);
      }
    }
    return new ConnInfo(out);
  }

  private static String decode(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  private static void put(Map<String, String> out, String key, String value, String text) {
    if (!KEYS.contains(key)) {
      throw new IllegalArgumentException("connection '" + redact(text) + "': unknown key '" + key + "' (known: "
          + new java.util.TreeSet<>(KEYS) + ")");
    }
    out.put(key, value);
  }

  private static String redact(String text) {
    return text.replaceAll("password\\s*=\\s*('(\\\\.|[^'])*'|\\S+)", "password=***").replaceAll("(://[^:/@]*):[^@]*@",
        "$1:***@");
  }

  public String host() {
    return values.getOrDefault("hostaddr", values.getOrDefault("host", "localhost"));
  }

  public String jdbcUrl() {
    String host = host();
    if (host.contains(":")) {
      host = "[" + host + "]"; // IPv6
    }
    return "jdbc:postgresql://" + host + ":" + values.getOrDefault("port", "5432") + "/"
        + values.getOrDefault("dbname", values.getOrDefault("user", "postgres"));
  }

  /** A new connection; the caller closes it. Short timeouts: a dead server must not hold a monitor for minutes. */
  public Connection connect() throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", values.getOrDefault("user", System.getProperty("user.name")));
    if (values.containsKey("password")) {
      p.setProperty("password", values.get("password"));
    }
    if (values.containsKey("sslmode")) {
      p.setProperty("sslmode", values.get("sslmode"));
    }
    p.setProperty("connectTimeout", values.getOrDefault("connect_timeout", "5"));
    p.setProperty("socketTimeout", "30");
    p.setProperty("tcpKeepAlive", "true");
    p.setProperty("ApplicationName", values.getOrDefault("application_name", "psgi-vassal emperor"));
    return DriverManager.getConnection(jdbcUrl(), p);
  }

  /** For logs and stats: everything but the password. */
  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    values.forEach((k, v) -> b.append(b.length() == 0 ? "" : " ").append(k).append('=')
        .append(k.equals("password") ? "***" : v));
    return b.toString();
  }
}
