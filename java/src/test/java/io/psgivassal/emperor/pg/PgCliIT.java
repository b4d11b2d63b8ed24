package io.psgivassal.emperor.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.PgServer;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.VassalWorld;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 through {@code java -jar target/emperor.jar}: the {@code pg://} flags, the {@code fleet}
 * commands, and what a mistake in them prints.
 */
class PgCliIT {
  private PgServer pg;
  private VassalWorld world;
  private Process cli;

  @BeforeEach
  void setUp() throws Exception {
    pg = PgServer.start();
    world = VassalWorld.create();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (cli != null && cli.isAlive()) {
        cli.destroy(); // SIGTERM: the Emperor stops its vassals and exits 0
        if (!cli.waitFor(60, TimeUnit.SECONDS)) {
          cli.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
      world.close();
    } finally {
      pg.close();
    }
  }

  private record Run(int status, String output) {}

  private List<String> jar(String... args) {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
        world.root.resolve("target/emperor.jar").toString()));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private Run run(String... args) throws Exception {
    Process p = new ProcessBuilder(jar(args)).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    return new Run(p.exitValue(), out);
  }

  @Test
  void mistakesAreNamedWithStatus2AndTouchNoDatabase() throws Exception {
    Run r = run("--emperor", "pg://hots=db;SELECT name, config, ts FROM vassals");
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("--emperor connection 'hots=db': unknown key 'hots'"), r.output());
    r = run("--emperor", world.vassals.toString(), "--emperor-pg-listen", "ch");
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("--emperor-pg-listen needs an --emperor pg://"), r.output());
    r = run("fleet", "add", "--fleet", "pg://" + pg.conninfo(), "--name", "no-extension", "--config", "/dev/null");
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("vassal name 'no-extension' must end in .ini"), r.output());
    r = run("fleet", "list");
    assertEquals(2, r.status(), r.output());
    assertTrue(r.output().contains("missing --fleet"), r.output());
  }

  @Test
  void theCliServesARowInsertedWithALongPollAndItsStatsShowTheConnection() throws Exception {
    pg.sql("CREATE TABLE vassals (name text PRIMARY KEY, config text NOT NULL, ts timestamptz NOT NULL DEFAULT now())",
        """
        CREATE FUNCTION vassals_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('vassals_changed', ''); RETURN NULL; END $$""",
        "CREATE TRIGGER vassals_changed AFTER INSERT OR UPDATE OR DELETE ON vassals"
            + " FOR EACH STATEMENT EXECUTE FUNCTION vassals_notify()");
    int stats = Ports.free();
    Path log = world.dir.resolve("cli.log");
    cli = new ProcessBuilder(jar("--emperor", "pg://" + pg.conninfo(), "--emperor-pg-listen", "vassals_changed",
        "--emperor-freq", "30", "--binary-path", world.binary, "--emperor-stats", "127.0.0.1:" + stats))
        .directory(world.dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    Await.until("the stats show the monitor connected", VassalWorld.WAIT, () -> statsJson(stats).contains("\"state\":\"connected\""));
    // uWSGI's default query: SELECT name,config,EXTRACT(epoch FROM ts) FROM vassals
    int port = Ports.free();
    pg.sql("INSERT INTO vassals (name, config) VALUES ('cli.ini', '[uwsgi]\nhttp-socket = 127.0.0.1:" + port
        + "\nprocesses = 1\npsgi = " + world.hello + "\n')");
    long t0 = System.nanoTime();
    Http.await200(port, VassalWorld.WAIT);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(ms < 10_000, "insert -> serving " + ms + " ms with a 30 s poll: the NOTIFY did it");
    assertTrue(statsJson(stats).contains("\"config\":\"emperor://cli.ini\""), statsJson(stats));
    cli.destroy();
    assertTrue(cli.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, cli.exitValue(), Files.readString(log));
  }

  private static String statsJson(int port) {
    try (Socket s = new Socket("127.0.0.1", port); InputStream in = s.getInputStream()) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }
}
