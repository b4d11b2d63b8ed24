package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.Subreaper;
import io.psgivassal.emperor.testing.VassalWorld;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 5, faults of the Emperor CLI run as a process of its own ({@code java -jar
 * target/emperor.jar}): SIGKILLed, every vassal and worker exits (EOF on its pipe) and nothing is
 * left to init; vassals that fail at start are blacklisted, throttled and named in the log with
 * their reason while the rest carries on. The test JVM is a subreaper while a test runs, so the
 * dead Emperor's orphans come to it, to be checked and reaped.
 */
class EmperorCliFaultsIT {
  private static final Duration WAIT = VassalWorld.WAIT;
  private VassalWorld world;
  private Process cli;
  private Path log;
  private Subreaper subreaper;

  @BeforeEach
  void setUp() throws Exception {
    world = VassalWorld.create();
    log = world.dir.resolve("emperor.log");
    subreaper = Subreaper.become();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (cli != null && cli.isAlive()) {
        cli.destroy();
        if (!cli.waitFor(60, TimeUnit.SECONDS)) {
          cli.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
      // anything of ours still around (a failed assertion above): kill and reap
      if (subreaper != null) {
        subreaper.close();
      }
    } finally {
      world.close();
    }
  }

  private void startCli(String... extra) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path jar = world.root.resolve("target/emperor.jar");
    assertTrue(Files.isRegularFile(jar), jar + " is built by mvn package");
    List<String> cmd = new ArrayList<>(List.of(java, "-jar", jar.toString(), "--emperor", world.vassals.toString(),
        "--binary-path", world.binary, "--emperor-use-fork-server", world.forkSocket.toString(),
        "--vassal-fork-base", "base.ini", "--reload-mercy", "10", "--emperor-freq", "1"));
    cmd.addAll(List.of(extra));
    cli = new ProcessBuilder(cmd).directory(world.dir.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
  }

  private String logText() throws IOException {
    return Files.readString(log);
  }

  /** Every descendant of {@code pid}, from /proc. */

  private static boolean gone(int pid) {
    return ProcFs.stat(pid).map(s -> s.zombie()).orElse(true);
  }


  @Test
  void sigkillTheEmperorJvmAndEveryVassalAndWorkerExitsWithNothingLeftToInit() throws Exception {
    world.writeBase();
    List<Integer> ports = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ports.add(Ports.free());
      world.writeApp("app" + i + ".ini", ports.get(i), "processes = 2\n");
    }
    startCli();
    for (int p : ports) {
      Http.await200(p, WAIT);
    }
    int emperorPid = (int) cli.pid();
    // settle: both workers of each vassal up
    Await.until("3 vassals x 2 workers + base", WAIT, () -> Subreaper.descendants(emperorPid).size() >= 1 + 3 * 3);
    Set<Integer> before = Subreaper.descendants(emperorPid);
    subreaper.track(before);
    Set<Integer> sessions = new TreeSet<>();
    for (int pid : before) {
      ProcFs.stat(pid).ifPresent(s -> sessions.add(s.session()));
    }
    int testSession = ProcFs.stat((int) ProcessHandle.current().pid()).orElseThrow().session();
    sessions.remove(testSession);
    sessions.remove(ProcFs.stat(emperorPid).orElseThrow().session());

    long t0 = System.nanoTime();
    Signals.kill(emperorPid, Signals.SIGKILL);
    assertTrue(cli.waitFor(10, TimeUnit.SECONDS));
    long allGoneNanos = -1;
    while (System.nanoTime() - t0 < Duration.ofSeconds(30).toNanos()) {
      if (before.stream().allMatch(EmperorCliFaultsIT::gone)) {
        allGoneNanos = System.nanoTime() - t0;
        break;
      }
      Thread.sleep(10);
    }
    List<Integer> survivors = before.stream().filter(p -> !gone(p)).toList();
    assertTrue(allGoneNanos >= 0, "still alive 30 s after the Emperor was SIGKILLed: " + survivors + " of " + before);
    long ms = allGoneNanos / 1_000_000;
    System.out.println("MEASURE Emperor JVM SIGKILLed: all " + before.size() + " vassal processes (base, 3 adopted, "
        + "6 workers) gone after " + ms + " ms");
    assertTrue(ms <= 5000, "vassals took " + ms + " ms to exit (issue 5: within 5 s)");

    // nothing re-parented to init or anywhere else: no live process is left in the vassals' sessions
    List<String> strays = new ArrayList<>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      procs.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\d+")).mapToInt(Integer::parseInt)
          .forEach(pid -> ProcFs.stat(pid).filter(s -> !s.zombie() && sessions.contains(s.session()))
              .ifPresent(s -> strays.add(pid + " (ppid " + s.ppid() + ")")));
    }
    assertEquals(List.of(), strays, "processes left in the vassal sessions " + sessions);
    subreaper.reap(Duration.ofSeconds(5));
    int self = (int) ProcessHandle.current().pid();
    assertTrue(ProcFs.children(self).stream().noneMatch(subreaper::isTracked), "orphans reaped");
  }

  @Test
  void vassalsThatFailAtStartAreBlacklistedThrottledAndNamedInTheLogWhileTheRestCarriesOn() throws Exception {
    world.writeBase();
    int good = Ports.free();
    world.writeApp("good.ini", good, "");
    Path dies = world.dir.resolve("dies.psgi");
    Files.writeString(dies, "die \"dies-on-load: this app refuses to load\\n\";\n");
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      startCli("--emperor-throttle", "300", "--emperor-max-throttle", "1500");
      Http.await200(good, WAIT);
      AtomicBoolean run = new AtomicBoolean(true);
      AtomicInteger ok = new AtomicInteger();
      List<String> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
      Thread client = new Thread(() -> {
        while (run.get()) {
          try {
            if (Http.get(good, "/", Duration.ofSeconds(10)).status() == 200) {
              ok.incrementAndGet();
            } else {
              errors.add("not 200");
            }
          } catch (Exception e) {
            errors.add(e.toString());
          }
        }
      });
      client.start();
      try {
        world.writeApp("bad-option.ini", Ports.free(), "no-such-option = 1\n");
        world.writeApp("port-in-use.ini", taken.getLocalPort(), "");
        world.writeApp("dies-on-load.ini", Ports.free(), "psgi = " + dies + "\n");
        for (String n : List.of("bad-option.ini", "port-in-use.ini", "dies-on-load.ini")) {
          Await.until(n + " throttled at least 3 times in the log", WAIT,
              () -> logUnchecked().contains("vassal " + n + " -> THROTTLED: blacklisted (attempt 3)"));
        }
        // a later, healthy vassal is still taken up
        int late = Ports.free();
        world.writeApp("late.ini", late, "");
        Http.await200(late, WAIT);
      } finally {
        run.set(false);
        client.join(20_000);
      }
      assertTrue(cli.isAlive(), "the Emperor carries on");
      assertTrue(errors.isEmpty(), "the healthy vassal never stopped answering: " + errors);
      assertTrue(ok.get() > 10, "answers: " + ok);
    }
    String text = logText();
    System.out.println("---- Emperor log, failing vassals ----");
    text.lines().filter(l -> l.contains("bad-option") || l.contains("port-in-use") || l.contains("dies-on-load")
        || l.contains("no-such-option") || l.contains("in use")).limit(40).forEach(System.out::println);
    for (String n : List.of("bad-option.ini", "port-in-use.ini", "dies-on-load.ini")) {
      assertTrue(text.contains("vassal " + n), n + " named in the log");
      assertTrue(text.lines().anyMatch(l -> l.contains(n) && l.contains("before it was loyal")), n + ": died before loyal");
    }
    // each reason appears in the log (psgi-vassal's own error goes to the Emperor's log)
    assertTrue(text.contains("no-such-option"), "the bad option is named");
    assertTrue(text.toLowerCase().contains("in use"), "the port in use is named");
    assertTrue(text.contains("dies-on-load: this app refuses to load"), "the app's load error is in the log");
  }

  private String logUnchecked() {
    try {
      return logText();
    } catch (IOException e) {
      return "";
    }
  }
}
