package io.psgivassal.emperor.fleet;

import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.pg.ConnInfo;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code emperor fleet add|remove|list|drain}: what an operator does to a fleet's tables. Every
 * command takes {@code --fleet URL} (as {@code --emperor-fleet} does) and exits 0 on success, 1
 * when the database refuses, 2 on bad usage.
 */
public final class FleetCommand {
  public static final String USAGE = """
      usage: emperor fleet add    --fleet URL --name NAME --config FILE   add a vassal, or change its config (a reload)
             emperor fleet remove --fleet URL --name NAME                 stop a vassal wherever it runs, and forget it
             emperor fleet list   --fleet URL                             the Emperors, and which runs what (state, pid, sockets)
             emperor fleet drain  --fleet URL NAME                        move Emperor NAME's vassals elsewhere (it restarts undrained)
        URL: pg://CONNINFO, a libpq conninfo (host=... dbname=...) or a postgresql:// URI""";

  private FleetCommand() {}

  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
      (args.length == 0 ? err : out).println(USAGE);
      return args.length == 0 ? 2 : 0;
    }
    Map<String, String> opts = new HashMap<>();
    List<String> positional = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      String a = args[i];
      if (a.startsWith("--")) {
        int eq = a.indexOf('=');
        String key = eq > 0 ? a.substring(2, eq) : a.substring(2);
        if (!List.of("fleet", "name", "config").contains(key)) {
          err.println("emperor fleet: unknown option " + a + "\n" + USAGE);
          return 2;
        }
        if (eq < 0 && i + 1 >= args.length) {
          err.println("emperor fleet: option " + a + " requires a value");
          return 2;
        }
        opts.put(key, eq > 0 ? a.substring(eq + 1) : args[++i]);
      } else {
        positional.add(a);
      }
    }
    String cmd = args[0];
    try {
      String fleet = require(opts, "fleet");
      ConnInfo info = ConnInfo.parse(fleet.startsWith("pg://") ? fleet.substring(5) : fleet);
      switch (cmd) {
        case "add" -> {
          String name = require(opts, "name");
          Path file = Path.of(require(opts, "config"));
          String text;
          try {
            text = Files.readString(file, StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new IllegalArgumentException("--config " + file + ": cannot read: " + e.getMessage(), e);
          }
          VassalSpec.ofText(name, text); // the name and size rules, checked before the table has it
          try (Connection c = open(info)) {
            add(c, name, text);
          }
          out.println("vassal " + name + " added (or updated)");
        }
        case "remove" -> {
          String name = require(opts, "name");
          try (Connection c = open(info)) {
            if (!remove(c, name)) {
              err.println("emperor fleet: no vassal " + name + " in the fleet");
              return 1;
            }
          }
          out.println("vassal " + name + " removed");
        }
        case "list" -> {
          try (Connection c = open(info)) {
            list(c, out);
          }
        }
        case "drain" -> {
          if (positional.size() != 1) {
            throw new IllegalArgumentException("fleet drain takes one Emperor NAME");
          }
          try (Connection c = open(info)) {
            int n = drain(c, positional.get(0));
            if (n < 0) {
              err.println("emperor fleet: no Emperor " + positional.get(0) + " in the fleet");
              return 1;
            }
            out.println("Emperor " + positional.get(0) + " draining: its " + n + " vassal(s) move to others as they stop");
          }
        }
        default -> throw new IllegalArgumentException("unknown fleet command '" + cmd + "'\n" + USAGE);
      }
      return 0;
    } catch (IllegalArgumentException e) {
      err.println("emperor fleet: " + e.getMessage());
      return 2;
    } catch (SQLException e) {
      err.println("emperor fleet: " + info(opts) + ": " + e.getMessage());
      return 1;
    }
  }

  private static String info(Map<String, String> opts) {
    try {
      return ConnInfo.parse(opts.get("fleet").replaceFirst("^pg://", "")).toString();
    } catch (RuntimeException e) {
      return "fleet";
    }
  }

  private static String require(Map<String, String> opts, String key) {
    String v = opts.get(key);
    if (v == null || v.isEmpty()) {
      throw new IllegalArgumentException("missing --" + key);
    }
    return v;
  }

  static Connection open(ConnInfo info) throws SQLException {
    Connection c = info.connect();
    FleetSchema.ensure(c);
    return c;
  }

  /** Adds vassal {@code name}, or gives it a new config (and ts, so its Emperor reloads it). */
  public static void add(Connection c, String name, String config) throws SQLException {
    try (PreparedStatement p = c.prepareStatement("""
        INSERT INTO emperor_fleet_vassals (name, config, ts) VALUES (?, ?, clock_timestamp())
        ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config, ts = EXCLUDED.ts""")) {
      p.setString(1, name);
      p.setString(2, config);
      p.executeUpdate();
    }
  }

  public static boolean remove(Connection c, String name) throws SQLException {
    try (PreparedStatement p = c.prepareStatement("DELETE FROM emperor_fleet_vassals WHERE name = ?")) {
      p.setString(1, name);
      return p.executeUpdate() > 0;
    }
  }

  /**
   * Marks Emperor {@code name} draining: it stops its vassals and gives each back once stopped,
   * and claims nothing until it registers afresh (a restart).
   *
   * @return how many vassals it had, -1 if there is no such Emperor
   */
  public static int drain(Connection c, String name) throws SQLException {
    try (PreparedStatement p = c.prepareStatement("""
        UPDATE emperor_fleet_emperors SET draining = true WHERE name = ?
        RETURNING (SELECT count(*) FROM emperor_fleet_vassals WHERE emperor = ?)""")) {
      p.setString(1, name);
      p.setString(2, name);
      try (ResultSet rs = p.executeQuery()) {
        return rs.next() ? rs.getInt(1) : -1;
      }
    }
  }

  private static void list(Connection c, PrintStream out) throws SQLException {
    try (Statement s = c.createStatement()) {
      out.println("EMPEROR\tHOST\tPID\tCAPACITY\tVASSALS\tLEASE\tDRAINING");
      try (ResultSet rs = s.executeQuery("""
          SELECT e.name, e.host, e.pid, e.capacity,
            (SELECT count(*) FROM emperor_fleet_vassals v WHERE v.emperor = e.name),
            CASE WHEN e.lease_until > now() THEN 'alive' ELSE 'expired' END, e.draining
          FROM emperor_fleet_emperors e ORDER BY e.name""")) {
        while (rs.next()) {
          out.println(String.join("\t", rs.getString(1), String.valueOf(rs.getString(2)), dash(rs.getString(3)),
              rs.getString(4), rs.getString(5), rs.getString(6), rs.getBoolean(7) ? "yes" : "no"));
        }
      }
      out.println();
      out.println("VASSAL\tEMPEROR\tSTATE\tPID\tSOCKETS");
      try (ResultSet rs = s.executeQuery("""
          SELECT v.name, v.emperor, CASE WHEN v.emperor IS NULL THEN 'unassigned'
              WHEN e.lease_until IS NULL OR e.lease_until <= now() THEN 'orphaned' ELSE coalesce(v.state, 'claimed') END,
            v.pid, v.sockets
          FROM emperor_fleet_vassals v LEFT JOIN emperor_fleet_emperors e ON e.name = v.emperor ORDER BY v.name""")) {
        while (rs.next()) {
          out.println(String.join("\t", rs.getString(1), dash(rs.getString(2)), rs.getString(3), dash(rs.getString(4)),
              dash(rs.getString(5))));
        }
      }
    }
  }

  private static String dash(String s) {
    return s == null || s.equals("0") ? "-" : s;
  }
}
