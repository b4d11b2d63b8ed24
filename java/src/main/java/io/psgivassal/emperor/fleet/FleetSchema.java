package io.psgivassal.emperor.fleet;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The fleet's tables, version {@value #VERSION}; created by the first Emperor or {@code fleet}
 * command that finds them missing (under an advisory lock, so two starting at once do not race).
 * A database whose schema is newer than this code is refused rather than written to.
 *
 * <pre>
 * emperor_fleet_version (version)                one row: the schema version
 * emperor_fleet_emperors (name PK, capacity, lease_until, draining, pid, host, started)
 * emperor_fleet_vassals (name PK, config, ts, emperor → emperors.name or NULL, claimed_at,
 *                        state, pid, sockets, reported_at)
 * </pre>
 *
 * Triggers NOTIFY {@value #CHANNEL} whenever a vassal is added or removed, its config, ts or
 * Emperor changes, or an Emperor's draining flag or capacity changes, so every Emperor looks at
 * once; nothing else (lease renewals, state reports) wakes anyone.
 */
public final class FleetSchema {
  public static final int VERSION = 1;
  public static final String CHANNEL = "emperor_fleet";
  /** Arbitrary, fixed: the advisory lock taken while creating the schema. */
  private static final long LOCK = 0x656d7065726f72L;

  private FleetSchema() {}

  /** Creates the schema if missing; checks its version. */
  public static void ensure(Connection c) throws SQLException {
    boolean auto = c.getAutoCommit();
    c.setAutoCommit(false);
    try (Statement s = c.createStatement()) {
      s.execute("SELECT pg_advisory_xact_lock(" + LOCK + ")");
      s.execute("CREATE TABLE IF NOT EXISTS emperor_fleet_version (version integer NOT NULL)");
      int version = 0;
      try (ResultSet rs = s.executeQuery("SELECT max(version) FROM emperor_fleet_version")) {
        if (rs.next()) {
          version = rs.getInt(1);
        }
      }
      if (version > VERSION) {
        throw new SQLException("the fleet schema in this database is version " + version + "; this Emperor knows "
            + VERSION + " (upgrade the Emperor)");
      }
      if (version < 1) {
        s.execute("""
            CREATE TABLE emperor_fleet_emperors (
              name text PRIMARY KEY,
              capacity integer NOT NULL,
              lease_until timestamptz NOT NULL,
              draining boolean NOT NULL DEFAULT false,
              pid integer,
              host text,
              started timestamptz NOT NULL DEFAULT now())""");
        s.execute("""
            CREATE TABLE emperor_fleet_vassals (
              name text PRIMARY KEY,
              config text NOT NULL,
              ts timestamptz NOT NULL DEFAULT now(),
              emperor text,
              claimed_at timestamptz,
              state text,
              pid integer,
              sockets text,
              reported_at timestamptz)""");
        s.execute("CREATE INDEX emperor_fleet_vassals_emperor ON emperor_fleet_vassals (emperor)");
        s.execute("""
            CREATE FUNCTION emperor_fleet_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('%s', TG_TABLE_NAME);
              RETURN NULL;
            END $$""".formatted(CHANNEL));
        // per row and only on real changes: a statement trigger fires for every round's claim and
        // lease renewal even when they change nothing, and every Emperor would wake every other one
        // without end (NOTIFY folds identical notifications of one transaction into one)
        s.execute("""
            CREATE TRIGGER emperor_fleet_vassals_added
              AFTER INSERT OR DELETE ON emperor_fleet_vassals
              FOR EACH ROW EXECUTE FUNCTION emperor_fleet_notify()""");
        s.execute("""
            CREATE TRIGGER emperor_fleet_vassals_changed
              AFTER UPDATE ON emperor_fleet_vassals FOR EACH ROW
              WHEN (OLD.config IS DISTINCT FROM NEW.config OR OLD.ts IS DISTINCT FROM NEW.ts
                OR OLD.emperor IS DISTINCT FROM NEW.emperor)
              EXECUTE FUNCTION emperor_fleet_notify()""");
        s.execute("""
            CREATE TRIGGER emperor_fleet_emperors_changed
              AFTER UPDATE ON emperor_fleet_emperors FOR EACH ROW
              WHEN (OLD.draining IS DISTINCT FROM NEW.draining OR OLD.capacity IS DISTINCT FROM NEW.capacity)
              EXECUTE FUNCTION emperor_fleet_notify()""");
        s.execute("INSERT INTO emperor_fleet_version VALUES (" + VERSION + ")");
      }
      c.commit();
    } catch (SQLException | RuntimeException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(auto);
    }
  }
}
