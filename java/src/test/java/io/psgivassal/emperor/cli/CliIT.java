package io.psgivassal.emperor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.CliProcess;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.VassalWorld;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The CLI as a user runs it, a process of its own with real psgi-vassal vassals. */
class CliIT {
  private static final Duration WAIT = VassalWorld.WAIT;
  private VassalWorld world;
  private CliProcess cli;

  @BeforeEach
  void setUp() throws Exception {
    world = VassalWorld.create();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (cli != null) {
        cli.close();
      }
    } finally {
      world.close();
    }
  }

  private String[] emperorArgs(String... extra) {
    String[] base = {"--emperor", world.vassals.toString(), "--binary-path", world.binary, "--reload-mercy", "10"};
    String[] all = java.util.Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    return all;
  }

  /** Vassals app0.ini, app1.ini, ... serving hello.psgi; their HTTP ports. */
  private int[] writeApps(int n) throws java.io.IOException {
    int[] ports = new int[n];
    for (int i = 0; i < n; i++) {
      ports[i] = Ports.free();
      world.writeApp("app" + i + ".ini", ports[i], "psgi = " + world.hello + "\n");
    }
    return ports;
  }

  /**
   * The library as a named module: the CLI found the engine through the module's {@code provides},
   * JNA spawned and watched a vassal (posix_spawn, epoll, inotify, pidfd), SLF4J found its binding,
   * and SIGTERM stopped it all with status 0.
   */
  @Test
  void theLibraryRunsAsANamedModuleOnTheModulePath() throws Exception {
    int[] ports = writeApps(1);
    cli = CliProcess.modulePath(world.root, world.dir, emperorArgs());
    Http.await200(ports[0], WAIT);
    cli.process.destroy();
    assertEquals(0, cli.exitStatus(WAIT), cli.logText());
    cli.awaitLog("Emperor stopped", WAIT);
  }

  @Test
  void versionComesFromTheJarManifest() throws Exception {
    cli = CliProcess.jar(world.root, world.dir, "--version");
    assertEquals(0, cli.exitStatus(WAIT), cli.logText());
    assertEquals("psgi-vassal-emperor " + System.getProperty("project.version") + "\n", cli.logText());
  }

  /** Ctrl-C in a terminal: the Emperor names the signal it got, stops its vassals and exits 0. */
  @Test
  void sigintIsNamedAndEndsWithACleanStopAndStatus0() throws Exception {
    int[] ports = writeApps(1);
    cli = CliProcess.jar(world.root, world.dir, emperorArgs());
    Http.await200(ports[0], WAIT);
    Signals.kill((int) cli.process.pid(), Signals.SIGINT);
    assertEquals(0, cli.exitStatus(WAIT), cli.logText());
    String log = cli.logText();
    assertTrue(log.contains("SIGINT received: stopping the Emperor"), log);
    assertFalse(log.contains("SIGTERM"), log);
    assertTrue(log.contains("all vassals stopped") && log.contains("Emperor stopped"), log);
  }

  /**
   * SIGHUP reloads every vassal as uWSGI's Emperor does (emperor_massive_reload): a new process
   * serves each, the Emperor keeps running, and says so in its log.
   */
  @Test
  void sighupReloadsEveryVassalAndTheEmperorRunsOn() throws Exception {
    int[] ports = writeApps(2);
    cli = CliProcess.jar(world.root, world.dir, emperorArgs());
    for (int port : ports) {
      Http.await200(port, WAIT);
    }
    // on a held socket a vassal may answer before the Emperor has read its "accepting"
    awaitAcceptingPids(2);
    Signals.kill((int) cli.process.pid(), Signals.SIGHUP);
    cli.awaitLog("SIGHUP: 2 vassal(s) reloading", WAIT);
    awaitAcceptingPids(4); // each vassal's next generation, a process of its own
    for (int port : ports) {
      Http.await200(port, WAIT);
    }
    assertTrue(cli.process.isAlive(), "SIGHUP does not stop the Emperor");
    assertTrue(cli.logText().contains("SIGHUP received: reloading every vassal"), cli.logText());
    cli.process.destroy();
    assertEquals(0, cli.exitStatus(WAIT), cli.logText());
  }

  /**
   * A base's reload is a deploy: SIGHUP reloads the base, whose new generation then moves its
   * adopted vassal, which is not also reloaded on its own (one new process, not two).
   */
  @Test
  void sighupDeploysABaseWhichMovesItsAdoptedVassalOnce() throws Exception {
    world.writeBase();
    int port = Ports.free();
    world.writeApp("app0.ini", port, "");
    cli = CliProcess.jar(world.root, world.dir, emperorArgs("--emperor-use-fork-server", world.forkSocket.toString(),
        "--vassal-fork-base", "base.ini"));
    Http.await200(port, WAIT);
    awaitAcceptingPids(1);
    Signals.kill((int) cli.process.pid(), Signals.SIGHUP);
    cli.awaitLog("SIGHUP: 1 vassal(s) reloading", WAIT);
    cli.awaitLog("deploy of base.ini finished", WAIT);
    awaitAcceptingPids(2);
    Http.await200(port, WAIT);
    assertEquals(2, acceptingPids(cli.logText()).size(), "app0.ini moved once: " + cli.logText());
    cli.process.destroy();
    assertEquals(0, cli.exitStatus(WAIT), cli.logText());
  }

  private void awaitAcceptingPids(int n) throws InterruptedException {
    Await.until(n + " vassal processes accepting", WAIT, () -> {
      try {
        return acceptingPids(cli.logText()).size() == n;
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
  }

  /** The pids the log shows reaching ACCEPTING. */
  private static Set<String> acceptingPids(String log) {
    Set<String> pids = new TreeSet<>();
    Matcher m = Pattern.compile("vassal app\\d\\.ini \\(pid (\\d+)[^)]*\\) -> ACCEPTING").matcher(log);
    while (m.find()) {
      pids.add(m.group(1));
    }
    return pids;
  }
}
