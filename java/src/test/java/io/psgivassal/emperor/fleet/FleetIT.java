package io.psgivassal.emperor.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.LogCapture;
import io.psgivassal.emperor.testing.PgServer;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.Subreaper;
import io.psgivassal.emperor.testing.VassalWorld;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, the managed fleet: Emperors sharing one real PostgreSQL claim vassals without ever
 * running one twice, take over a SIGKILLed Emperor's vassals after its lease, take a cleanly
 * stopped one's at once, and move a drained one's; {@code fleet add/remove/list/drain} drive it.
 */
class FleetIT {
  private static final Duration WAIT = VassalWorld.WAIT;
  private PgServer pg;
  private VassalWorld world;
  private String url;
  private final Map<String, Integer> ports = new HashMap<>();
  private final List<FleetMonitor> fleets = new ArrayList<>();
  private Process cli;
  private Subreaper subreaper;

  @BeforeEach
  void setUp() throws Exception {
    pg = PgServer.start();
    world = VassalWorld.create();
    url = "pg://" + pg.conninfo();
    subreaper = Subreaper.become();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (cli != null && cli.isAlive()) {
        cli.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      }
      if (subreaper != null) {
        subreaper.close();
      }
      world.close();
    } finally {
      pg.close();
    }
  }

  private String app(int port) {
    return "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 1\npsgi = " + world.hello + "\n";
  }

  /** {@code emperor fleet ARGS}: its exit status and output. */
  private record Run(int status, String out, String err) {}

  private Run fleet(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = FleetCommand.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private void add(String name) throws Exception {
    int port = ports.computeIfAbsent(name, n -> {
      try {
        return Ports.free();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Path file = world.dir.resolve(name);
    Files.writeString(file, app(port));
    Run r = fleet("add", "--fleet", url, "--name", name, "--config", file.toString());
    assertEquals(0, r.status(), r.err());
  }

  private Emperor emperor(String name, int capacity, Duration lease) throws Exception {
    FleetMonitor f = new FleetMonitor(url, name, capacity, lease);
    fleets.add(f);
    Emperor e = world.start(Emperor.builder().monitor(f).binaryPath(world.binary)
        .reloadMercy(Duration.ofSeconds(10)));
    f.observe(e);
    return e;
  }

  private static Set<String> running(Emperor e) {
    Set<String> out = new TreeSet<>();
    for (VassalView v : e.vassals()) {
      if (v.pid() != 0) {
        out.add(v.name());
      }
    }
    return out;
  }

  /** vassal -> Emperor, as the table says. */
  private Map<String, String> assignments() throws Exception {
    Map<String, String> out = new HashMap<>();
    try (Connection c = pg.connect(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT name, emperor FROM emperor_fleet_vassals")) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getString(2));
      }
    }
    return out;
  }

  private void awaitServing(Set<String> names) throws Exception {
    for (String n : names) {
      Http.await200(ports.get(n), WAIT);
    }
  }

  @Test
  void twoEmperorsClaimFromOneTableAndNoVassalRunsTwice() throws Exception {
    Set<String> all = new TreeSet<>();
    for (int i = 0; i < 8; i++) {
      add("app" + i + ".ini");
      all.add("app" + i + ".ini");
    }
    Emperor a = emperor("a", 5, Duration.ofSeconds(5));
    Emperor b = emperor("b", 5, Duration.ofSeconds(5));
    awaitServing(all);
    // watch for a while: never one vassal in both, every one in one, neither above its capacity
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
    Set<String> ra;
    Set<String> rb;
    do {
      ra = running(a);
      rb = running(b);
      Set<String> both = new HashSet<>(ra);
      both.retainAll(rb);
      assertTrue(both.isEmpty(), "run by both Emperors: " + both);
      assertTrue(ra.size() <= 5 && rb.size() <= 5, "capacity exceeded: a " + ra + ", b " + rb);
      Thread.sleep(50);
    } while (System.nanoTime() < until);
    Set<String> union = new TreeSet<>(ra);
    union.addAll(rb);
    assertEquals(all, union);
    Map<String, String> table = assignments();
    for (String n : ra) {
      assertEquals("a", table.get(n), n);
    }
    for (String n : rb) {
      assertEquals("b", table.get(n), n);
    }

    // a changed config in the table reaches the running vassal as a reload; a removed row stops it
    String n = ra.iterator().next();
    int pid = Http.get(ports.get(n)).helloPid();
    add(n);
    Await.until(n + " reloaded", WAIT, () -> {
      try {
        return Http.get(ports.get(n)).helloPid() != pid;
      } catch (Exception ex) {
        return false;
      }
    });
    assertEquals(0, fleet("remove", "--fleet", url, "--name", n).status());
    Await.until(n + " stopped", WAIT, () -> a.vassal(n).isEmpty());
    assertEquals(1, fleet("remove", "--fleet", url, "--name", n).status(), "removing it twice says there is none");
  }

  @Test
  void aSigkilledEmperorsVassalsAreServedByAnotherAfterItsLease() throws Exception {
    add("x.ini");
    add("y.ini");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path jar = world.root.resolve("target/emperor.jar");
    Path log = world.dir.resolve("cli.log");
    cli = new ProcessBuilder(java, "-jar", jar.toString(), "--emperor-fleet", url, "--emperor-name", "killed",
        "--emperor-fleet-lease", "2", "--binary-path", world.binary, "--reload-mercy", "10")
        .directory(world.dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    awaitServing(Set.of("x.ini", "y.ini"));
    Await.until("the table says 'killed' runs both", WAIT,
        () -> call(() -> Map.of("x.ini", "killed", "y.ini", "killed").equals(assignments())));
    Emperor survivor = emperor("survivor", 100, Duration.ofSeconds(2));
    Thread.sleep(1000);
    assertEquals(Set.of(), running(survivor), "a living Emperor's vassals are not claimed");

    subreaper.track(Subreaper.descendants((int) cli.pid()));
    subreaper.trackJdkChild(cli);
    long t0 = System.nanoTime();
    Signals.kill((int) cli.pid(), Signals.SIGKILL);
    Await.until("x.ini and y.ini run by the survivor", WAIT,
        () -> running(survivor).equals(Set.of("x.ini", "y.ini")));
    awaitServing(Set.of("x.ini", "y.ini"));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    int worker = Http.get(ports.get("x.ini")).helloPid();
    int vassal = survivor.vassal("x.ini").orElseThrow().pid();
    assertTrue(worker == vassal || ProcFs.stat(worker).map(st -> st.ppid() == vassal).orElse(false),
        "served by the survivor's vassal " + vassal + " (worker " + worker + ")");
    assertTrue(ms < 20_000, "takeover took " + ms + " ms with a 2 s lease");
    assertEquals(Map.of("x.ini", "survivor", "y.ini", "survivor"), assignments());
    System.out.println("takeover after SIGKILL (lease 2 s): " + ms + " ms");
  }

  @Test
  void aCleanStopGivesTheVassalsBackAtOnceAndDrainMovesThem() throws Exception {
    add("p.ini");
    add("q.ini");
    // a lease far longer than the test's patience: only a release explains a quick move
    Emperor first = emperor("first", 100, Duration.ofSeconds(60));
    awaitServing(Set.of("p.ini", "q.ini"));
    Await.until("first runs both", WAIT, () -> running(first).equals(Set.of("p.ini", "q.ini")));
    Emperor second = emperor("second", 100, Duration.ofSeconds(60));
    Emperor third = emperor("third", 0, Duration.ofSeconds(60)); // capacity 0: never claims

    // fleet list: which Emperor runs what, each vassal's state and socket
    Await.until("states reported", WAIT, () -> fleet("list", "--fleet", url).out()
        .contains("http://127.0.0.1:" + ports.get("p.ini")));
    String list = fleet("list", "--fleet", url).out();
    assertTrue(list.lines().anyMatch(l -> l.startsWith("p.ini\tfirst\t") && l.contains("http://127.0.0.1:" + ports.get("p.ini"))),
        list);
    assertTrue(list.lines().anyMatch(l -> l.startsWith("first\t") && l.contains("\talive\tno")), list);

    Run drained = fleet("drain", "--fleet", url, "first");
    assertEquals(0, drained.status(), drained.err());
    long t0 = System.nanoTime();
    Await.until("second runs both after the drain", WAIT, () -> running(second).equals(Set.of("p.ini", "q.ini")));
    awaitServing(Set.of("p.ini", "q.ini"));
    long drainMs = (System.nanoTime() - t0) / 1_000_000;
    assertEquals(Set.of(), running(first));
    assertTrue(first.isRunning(), "a drained Emperor keeps running, empty");
    assertTrue(drainMs < 30_000, "drain took " + drainMs + " ms");

    // a clean stop: the rows are given back once the vassals stopped, and taken at once (lease: 60 s)
    t0 = System.nanoTime();
    second.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);
    assertTrue(fleets.get(1).awaitReleased(Duration.ofSeconds(30)));
    // first is draining and third has no capacity: a new Emperor takes them
    Emperor fourth = emperor("fourth", 100, Duration.ofSeconds(60));
    Await.until("fourth runs both", WAIT, () -> running(fourth).equals(Set.of("p.ini", "q.ini")));
    awaitServing(Set.of("p.ini", "q.ini"));
    long stopMs = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(stopMs < 30_000, "taking a cleanly stopped Emperor's vassals took " + stopMs + " ms (lease 60 s)");
    assertEquals(Set.of(), running(third));
    assertEquals(1, fleet("drain", "--fleet", url, "nobody").status(), "draining an unknown Emperor fails");
  }

  @Test
  void fleetVassalsAreAdoptedFromTheForkServerOfTheEmperorsOwnBase() throws Exception {
    // the base lives in the host's own directory (every Emperor runs one); the fleet's vassals are adopted from it
    world.writeBase();
    add("adopted.ini");
    FleetMonitor f = new FleetMonitor(url, "forking", 100, Duration.ofSeconds(5));
    Emperor e = world.start(world.builder().monitor(f));
    f.observe(e);
    Http.await200(ports.get("adopted.ini"), WAIT);
    Await.until("adopted.ini adopted", WAIT, () -> e.vassal("adopted.ini").map(VassalView::adopted).orElse(false));
    assertEquals(world.forkSocket, e.vassal("adopted.ini").orElseThrow().forkServer().orElseThrow());
    assertEquals(Map.of("adopted.ini", "forking"), assignments(), "base.ini is the host's, not the fleet's");
  }

  @Test
  void anEmperorCutOffFromTheDatabaseStopsItsVassalsBeforeItsLeaseEndsAndRunsThemAgainAfter() throws Exception {
    add("f.ini");
    Emperor e = emperor("fenced", 100, Duration.ofSeconds(2));
    int before = Http.await200(ports.get("f.ini"), WAIT).helloPid();
    try (LogCapture log = LogCapture.start()) {
      long t0 = System.nanoTime();
      pg.stop();
      // another Emperor could claim f.ini once the 2 s lease is over: it must not run here by then
      Await.until("f.ini stopped", WAIT, () -> e.vassal("f.ini").isEmpty());
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertTrue(ms < 2_000, "stopped " + ms + " ms after the database went away; the lease is 2000 ms");
      String fenced = log.lines("lease not renewed for").get(0).replaceAll(".*lease not renewed for (\\d+) ms.*", "$1");
      assertTrue(Integer.parseInt(fenced) < 1_600, "fenced " + fenced + " ms after the last renewal began (lease 2000 ms)");
      assertTrue(!log.lines("lease not renewed", "stopping 1 vassal").isEmpty(), "the log says why");
      pg.startAgain();
      Await.until("f.ini serving again", WAIT, () -> call(() -> Http.get(ports.get("f.ini")).helloPid() != before));
      assertEquals(Map.of("f.ini", "fenced"), assignments(), "still this Emperor's: nobody else claimed it");
    }
  }

  private interface Check {
    boolean get() throws Exception;
  }

  private static boolean call(Check c) {
    try {
      return c.get();
    } catch (Exception e) {
      return false;
    }
  }


}
