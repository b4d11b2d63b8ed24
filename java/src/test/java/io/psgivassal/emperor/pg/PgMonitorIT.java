package io.psgivassal.emperor.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.LogCapture;
import io.psgivassal.emperor.testing.PgServer;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.VassalWorld;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, the uWSGI-compatible {@code pg://CONNINFO;QUERY} monitor against a real private
 * PostgreSQL and real psgi-vassal processes.
 */
class PgMonitorIT {
  private static final Duration WAIT = VassalWorld.WAIT;
  /** A poll so long that only a NOTIFY can explain a vassal serving within seconds. */
  private static final Duration LONG_POLL = Duration.ofSeconds(30);
  private PgServer pg;
  private VassalWorld world;

  @BeforeEach
  void setUp() throws Exception {
    pg = PgServer.start();
    world = VassalWorld.create();
    pg.sql("CREATE TABLE vassals (name text PRIMARY KEY, config text NOT NULL, ts timestamptz NOT NULL DEFAULT now(),"
            + " host text NOT NULL DEFAULT 'web1')",
        """
        CREATE FUNCTION vassals_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('vassals_changed', ''); RETURN NULL; END $$""",
        "CREATE TRIGGER vassals_changed AFTER INSERT OR UPDATE OR DELETE ON vassals"
            + " FOR EACH STATEMENT EXECUTE FUNCTION vassals_notify()");
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      world.close();
    } finally {
      pg.close();
    }
  }

  private String app(int port) {
    return "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 1\npsgi = " + world.hello + "\n";
  }

  private void upsert(String name, String config, String host) throws Exception {
    try (var c = pg.connect(); PreparedStatement p = c.prepareStatement(
        "INSERT INTO vassals (name, config, host) VALUES (?, ?, ?)"
            + " ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config, ts = clock_timestamp()")) {
      p.setString(1, name);
      p.setString(2, config);
      p.setString(3, host);
      p.executeUpdate();
    }
  }

  private Emperor start(PgQueryMonitor m, Duration poll) throws Exception {
    return world.start(Emperor.builder().monitor(m).binaryPath(world.binary).reloadMercy(Duration.ofSeconds(10))
        .rescanInterval(poll));
  }


  @Test
  void aRowInsertedServesAtOnceOnNotifyAChangedTsReloadsItAVanishedRowStopsIt() throws Exception {
    PgQueryMonitor m = PgQueryMonitor.of("pg://" + pg.conninfo() + ";SELECT name, config, ts FROM vassals")
        .listening("vassals_changed");
    Emperor e = start(m, LONG_POLL);
    Await.until("connected", WAIT, () -> m.status().state() == PgPoller.State.CONNECTED && m.status().rounds() > 0);

    int port = Ports.free();
    long t0 = System.nanoTime();
    upsert("shop.ini", app(port), "web1");
    int pid = Http.await200(port, WAIT).helloPid();
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(ms < 10_000, "insert -> serving took " + ms + " ms with a " + LONG_POLL.toSeconds() + " s poll");
    VassalView v = e.vassal("shop.ini").orElseThrow();
    assertTrue(v.configPath().isEmpty(), "config text goes over the config pipe (emperor://shop.ini)");

    // a changed ts (and config) reloads it: a new worker answers
    upsert("shop.ini", app(port) + "env = X=1\n", "web1");
    Await.until("a reloaded worker", WAIT, () -> {
      try {
        return Http.get(port).helloPid() != pid;
      } catch (IOException | AssertionError ex) {
        return false;
      }
    });

    pg.sql("DELETE FROM vassals WHERE name = 'shop.ini'");
    Await.until("shop.ini stopped and forgotten", WAIT, () -> e.vassal("shop.ini").isEmpty() && Http.refused(port));
  }

  /**
   * A row names its fork server in its [emperor] section, as a file would (uWSGI's
   * --emperor-fork-server-attr): with two bases on one host, each row is adopted from the one it
   * names, so one Emperor serves vassals of several code bases from one table.
   */
  @Test
  void aRowsEmperorSectionPicksItsForkServerAsAFilesWould() throws Exception {
    Path sockB = world.dir.resolve("b.sock");
    world.writeBase();
    world.writeBase("baseB.ini", sockB, world.hello);
    PgQueryMonitor m = PgQueryMonitor.of("pg://" + pg.conninfo() + ";SELECT name, config, ts FROM vassals")
        .listening("vassals_changed");
    Emperor e = world.start(world.builder().monitor(m).forkBase("baseB.ini").forkServerAttribute("fs"));
    int viaA = Ports.free();
    int viaB = Ports.free();
    upsert("viaA.ini", app(viaA), "web1");
    upsert("viaB.ini", app(viaB) + "[emperor]\nfs = " + sockB + "\n", "web1");
    Http.await200(viaA, WAIT);
    Http.await200(viaB, WAIT);
    Await.until("both adopted", WAIT, () -> e.vassal("viaA.ini").map(v -> v.adopted() && v.pid() > 0).orElse(false)
        && e.vassal("viaB.ini").map(v -> v.adopted() && v.pid() > 0).orElse(false));
    assertEquals(world.forkSocket, e.vassal("viaA.ini").orElseThrow().forkServer().orElseThrow());
    assertEquals(sockB, e.vassal("viaB.ini").orElseThrow().forkServer().orElseThrow());
    assertEquals(e.vassal("baseB.ini").orElseThrow().pid(),
        ProcFs.stat(e.vassal("viaB.ini").orElseThrow().pid()).orElseThrow().session(), "forked by baseB");
  }

  @Test
  void aHostFilterInTheQueryRunsOnlyThisHostsRows() throws Exception {
    int mine = Ports.free();
    int other = Ports.free();
    upsert("mine.ini", app(mine), "web1");
    upsert("other.ini", app(other), "web2");
    Emperor e = start(PgQueryMonitor.of("pg://" + pg.conninfo()
        + ";SELECT name, config, EXTRACT(epoch FROM ts) FROM vassals WHERE host = 'web1'"), Duration.ofMillis(300));
    Http.await200(mine, WAIT);
    // a few more polls: the other host's row never starts here
    Thread.sleep(1500);
    assertEquals(List.of("mine.ini"), e.vassals().stream().map(VassalView::name).toList());
    assertTrue(Http.refused(other));
    // moving the row to this host starts it at the next poll
    pg.sql("UPDATE vassals SET host = 'web1' WHERE name = 'other.ini'");
    Http.await200(other, WAIT);
  }

  @Test
  void theDatabaseGoingAwayLeavesVassalsRunningAndChangesMadeMeanwhileApplyOnceItIsBack() throws Exception {
    int a = Ports.free();
    int b = Ports.free();
    upsert("a.ini", app(a), "web1");
    PgQueryMonitor m = PgQueryMonitor.of("pg://" + pg.conninfo() + ";SELECT name, config, ts FROM vassals");
    try (LogCapture log = LogCapture.start()) {
      Emperor e = start(m, Duration.ofMillis(300));
      int pid = Http.await200(a, WAIT).helloPid();

      pg.stop();
      Await.until("the monitor sees the database down", WAIT, () -> m.status().state() == PgPoller.State.DOWN);
      Thread.sleep(1500); // several failed reconnects
      assertEquals(pid, Http.get(a).helloPid(), "the vassal keeps running, untouched, while the database is away");
      assertTrue(!log.lines("PostgreSQL", "vassals keep running").isEmpty(), "the outage is logged");
      String stats = io.psgivassal.emperor.stats.StatsJson.render(e.status());
      assertTrue(stats.contains("\"monitors\":[{\"id\":\"pg://") && stats.contains("\"state\":\"down\""),
          "the stats show the monitor's state: " + stats);

      // changes made while this Emperor could not see them (here: at restart, before it reconnects)
      pg.startAgain();
      pg.sql("DELETE FROM vassals WHERE name = 'a.ini'");
      upsert("b.ini", app(b), "web1");
      Http.await200(b, WAIT);
      Await.until("a.ini stopped", WAIT, () -> e.vassal("a.ini").isEmpty() && Http.refused(a));
      assertEquals(PgPoller.State.CONNECTED, m.status().state());
      assertTrue(m.status().reconnects() >= 1);
      assertTrue(!log.lines("connected to PostgreSQL again").isEmpty(), "the recovery is logged");
    }
  }

  @Test
  void aBadRowIsThatVassalsErrorNotTheMonitors() throws Exception {
    int good = Ports.free();
    upsert("bad name", "[uwsgi]\n", "web1");
    upsert("good.ini", app(good), "web1");
    try (LogCapture log = LogCapture.start()) {
      Emperor e = start(PgQueryMonitor.of("pg://" + pg.conninfo() + ";SELECT name, config, ts FROM vassals"),
          Duration.ofMillis(300));
      Http.await200(good, WAIT);
      Await.until("the bad row named in the log", WAIT, () -> !log.lines("vassal bad name: vassal name 'bad name'").isEmpty());
      assertEquals(List.of("good.ini"), e.vassals().stream().map(VassalView::name).toList());
    }
  }

  @Test
  void badArgumentsAreRefusedNamingWhatIsWrong() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PgQueryMonitor.of("pg://host=/var/run/postgresql dbname=x;SELECT 1"));
    assertTrue(e.getMessage().contains("UNIX socket directory"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> PgQueryMonitor.of("pg://hots=db;SELECT 1"));
    assertTrue(e.getMessage().contains("unknown key 'hots'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> PgQueryMonitor.of("pg://host=db;SELECT 1").listening("bad-channel"));
    assertTrue(e.getMessage().contains("bad-channel"), e.getMessage());
  }
}
