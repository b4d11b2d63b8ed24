package io.psgivassal.emperor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Defaults;
import io.psgivassal.emperor.api.DirectoryMonitor;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ListenAddress;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
  @TempDir Path tmp;
  private String err;
  private String out;

  private int run(String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int rc = Main.run(args, new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8));
    out = o.toString(StandardCharsets.UTF_8);
    err = e.toString(StandardCharsets.UTF_8);
    return rc;
  }

  @Test
  void unknownFlagIsOneLineAndExit2() {
    assertEquals(2, run("--emperor", "/tmp", "--frobnicate"));
    assertEquals("emperor: unknown option --frobnicate (try --help)\n", err);
  }

  @Test
  void malformedValues() {
    assertEquals(2, run("--emperor", "/tmp", "--reload-mercy", "soon"));
    assertEquals("emperor: option --reload-mercy expects a number of seconds, got 'soon' (try --help)\n", err);
    assertEquals(2, run("--emperor"));
    assertEquals("emperor: option --emperor requires a value (try --help)\n", err);
    assertEquals(2, run("--binary-path", "/bin/true"));
    assertEquals("emperor: missing required option --emperor DIR (try --help)\n", err);
    assertEquals(2, run("--emperor", "/nonexistent-dir-for-test"));
    assertTrue(err.contains("is not a directory"), err);
    assertEquals(2, run("--emperor", "/tmp", "--emperor-throttle", "-5"));
    assertEquals("emperor: option --emperor-throttle expects a number of milliseconds, got '-5' (try --help)\n", err);
    assertEquals(2, run("--emperor", "/tmp", "--emperor-required-heartbeat=x"));
    assertTrue(err.contains("--emperor-required-heartbeat expects a number of seconds"), err);
    assertEquals(2, run("--emperor", "/tmp", "--emperor-graceful-shutdown=perhaps"));
    assertTrue(err.contains("--emperor-graceful-shutdown takes no value"), err);
    assertEquals(2, run("--emperor", "/tmp", "--binary-path", "/bin/sh", "--emperor-stats", "127.0.0.1:99999"));
    assertTrue(err.startsWith("emperor: --emperor-stats ") && err.contains("99999"), err);
    assertEquals(2, run("--emperor", "/tmp/*/x.ini", "--binary-path", "/bin/sh"));
    assertTrue(err.contains("--emperor") && err.contains("wildcards"), err);
    assertEquals(2, run("--emperor", "/tmp", "--binary-path", "no-such-binary-anywhere"));
    assertTrue(err.contains("--binary-path") && err.contains("no-such-binary-anywhere"), err);
    assertEquals(2, run("--emperor", "/tmp", "--binary-path", "/bin/sh", "--emperor-on-demand-dir", "/nonexistent-od"));
    assertTrue(err.contains("--emperor-on-demand-directory /nonexistent-od is not a directory"), err);
  }

  @Test
  void helpListsEveryFlag() {
    assertEquals(0, run("--help"));
    assertTrue(out.startsWith("usage: emperor --emperor DIR|GLOB"), out);
    for (String flag : List.of("--emperor ", "--emperor-use-fork-server", "--vassal-fork-base", "--binary-path",
        "--emperor-stats", "--emperor-throttle", "--emperor-max-throttle", "--emperor-heartbeat", "--reload-mercy",
        "--emperor-graceful-shutdown", "--emperor-on-demand-extension", "--emperor-on-demand-directory",
        "--emperor-fork-server-attr", "--vassals-start-hook", "--vassals-stop-hook", "--version", "--help")) {
      assertTrue(out.contains(flag), flag + " in --help");
    }
    assertEquals("", err);
  }

  @Test
  void parsesEveryFlagAndTheEqualsForm() throws Exception {
    CommandLine cl = CommandLine.parse(new String[] {"--emperor=/v", "--emperor", "/w/*.ini", "--emperor-use-fork-server",
        "/run/f.sock", "--vassal-fork-base", "base.ini", "--vassal-fork-base=other.ini", "--binary-path",
        "/usr/bin/psgi-vassal", "--reload-mercy", "7", "--emperor-stats", "127.0.0.1:9191", "--emperor-throttle", "250",
        "--emperor-max-throttle=4000", "--emperor-heartbeat", "12", "--emperor-graceful-shutdown",
        "--emperor-on-demand-ext", ".sock", "--emperor-on-demand-directory", "/od", "--emperor-fork-server-attr",
        "fork-server", "--emperor-collect-attr", "team", "--vassals-start-hook", "/bin/start", "--vassals-stop-hook",
        "/bin/stop", "--vassals-hook-timeout", "9", "--emperor-freq", "2"});
    assertEquals(List.of("/v", "/w/*.ini"), cl.emperor());
    assertEquals(Path.of("/run/f.sock"), cl.forkServerSocket().orElseThrow());
    assertEquals(List.of("base.ini", "other.ini"), cl.forkBases());
    assertEquals("/usr/bin/psgi-vassal", cl.binaryPath().orElseThrow());
    assertEquals(Duration.ofSeconds(7), cl.reloadMercy());
    assertEquals(Optional.of("127.0.0.1:9191"), cl.stats());
    assertEquals(Duration.ofMillis(250), cl.throttle());
    assertEquals(Duration.ofMillis(4000), cl.maxThrottle());
    assertEquals(Duration.ofSeconds(12), cl.heartbeat());
    assertTrue(cl.gracefulShutdown());
    assertEquals(Optional.of(".sock"), cl.onDemandExtension());
    assertEquals(Optional.of(Path.of("/od")), cl.onDemandDirectory());
    assertEquals(Optional.of("fork-server"), cl.forkServerAttr());
    assertEquals(List.of("team"), cl.collectAttrs());
    assertEquals(Optional.of("/bin/start"), cl.startHook());
    assertEquals(Optional.of("/bin/stop"), cl.stopHook());
    assertEquals(Duration.ofSeconds(9), cl.hookTimeout());
    assertEquals(Duration.ofSeconds(2), cl.rescanInterval());
  }

  @Test
  void versionNeedsNoOtherFlag() {
    assertEquals(0, run("--version"));
    assertEquals("psgi-vassal-emperor " + Emperor.version() + "\n", out);
    assertFalse(Emperor.version().isBlank());
    assertEquals("", err);
    assertEquals(0, run("--emperor", "/nonexistent-dir-for-test", "--version"));
    assertTrue(out.startsWith("psgi-vassal-emperor "), out);
  }

  @Test
  void defaultsAreUwsgis() throws Exception {
    assertEquals(Duration.ofSeconds(30), Defaults.RELOAD_MERCY);
    assertEquals(Duration.ofMillis(1000), Defaults.THROTTLE);
    assertEquals(Duration.ofMinutes(3), Defaults.MAX_THROTTLE);
    assertEquals(Duration.ofSeconds(30), Defaults.HEARTBEAT);
    assertFalse(CommandLine.parse(new String[] {"--emperor", "/v"}).gracefulShutdown());
  }

  /** A default written twice drifts: the parser, the builder and --help must say the same. */
  @Test
  void theParserTheBuilderAndTheHelpShareEachDefault() throws Exception {
    Emperor fromFlags = Main.build(CommandLine.parse(new String[] {"--emperor", tmp.toString(), "--binary-path", "/bin/sh"}));
    Emperor fromBuilder = Emperor.builder().monitor(DirectoryMonitor.of(tmp.toString())).binaryPath("/bin/sh").build();
    assertEquals(fromBuilder.config(), fromFlags.config());

    assertEquals(0, run("--help"));
    for (String[] flagAndDefault : new String[][] {
        {"--emperor-throttle", String.valueOf(Defaults.THROTTLE.toMillis())},
        {"--emperor-max-throttle", String.valueOf(Defaults.MAX_THROTTLE.toMillis())},
        {"--emperor-heartbeat", String.valueOf(Defaults.HEARTBEAT.toSeconds())},
        {"--reload-mercy", String.valueOf(Defaults.RELOAD_MERCY.toSeconds())},
        {"--emperor-deploy-batch", String.valueOf(Defaults.DEPLOY_BATCH)},
        {"--vassals-hook-timeout", String.valueOf(Defaults.HOOK_TIMEOUT.toSeconds())},
        {"--emperor-freq", String.valueOf(Defaults.RESCAN_INTERVAL.toSeconds())},
        {"--binary-path", Defaults.BINARY}}) {
      String line = out.lines().filter(l -> l.startsWith("  " + flagAndDefault[0] + " ")).findFirst().orElseThrow();
      assertTrue(line.matches(".*\\(default:? " + java.util.regex.Pattern.quote(flagAndDefault[1]) + "\\b.*"), line);
    }
  }

  /** The README's --emperor row and --help name the same config extensions: the ones the monitor takes. */
  @Test
  void theReadmeAndTheHelpAgreeOnTheWatchedExtensions() throws Exception {
    assertEquals(0, run("--help"));
    String help = out.lines().filter(l -> l.startsWith("  --emperor DIR|GLOB")).findFirst().orElseThrow();
    String readme = java.nio.file.Files.readAllLines(Path.of("README.md")).stream()
        .filter(l -> l.startsWith("| `--emperor DIR")).findFirst().orElseThrow();
    List<String> expected = Defaults.configExtensions();
    assertEquals(List.of(".ini", ".xml", ".yml", ".yaml", ".js", ".json"), expected);
    assertEquals(expected, extensions(help.substring(0, help.indexOf(" in DIR"))), help);
    assertEquals(expected, extensions(readme.substring(0, readme.indexOf(" in DIR"))), readme);
  }

  private static List<String> extensions(String text) {
    return java.util.regex.Pattern.compile("\\.[a-z]+").matcher(text).results().map(r -> r.group()).toList();
  }

  @Test
  void buildsTheEmperorTheFlagsDescribe() throws Exception {
    CommandLine cl = CommandLine.parse(new String[] {"--emperor", tmp.toString(), "--emperor", tmp + "/*.ini",
        "--binary-path", "/bin/sh", "--emperor-stats", "127.0.0.1:0", "--emperor-graceful-shutdown",
        "--emperor-fork-server-attr", "fs", "--emperor-on-demand-dir", tmp.toString()});
    Emperor e = Main.build(cl);
    assertEquals(List.of(tmp.toString(), tmp + "/*.ini"), e.monitors().stream().map(m -> m.id()).toList());
    assertTrue(e.config().gracefulShutdown());
    assertEquals(Optional.of("fs"), e.config().forkServerAttribute());
    assertEquals(Optional.of(ListenAddress.parse("127.0.0.1:0")), e.config().stats());
    assertEquals(Optional.of(tmp), e.config().onDemandDirectory());
  }

  @Test
  void socketsAreHeldForPsgiVassalAndNotForUwsgiUnlessAFlagSaysSo() throws Exception {
    Path psgiVassal = java.nio.file.Files.createFile(tmp.resolve("psgi-vassal"));
    Path uwsgi = java.nio.file.Files.createFile(tmp.resolve("uwsgi-core"));
    assertTrue(held("--binary-path", psgiVassal.toString()));
    assertFalse(held("--binary-path", psgiVassal.toString(), "--emperor-no-held-sockets"));
    // uWSGI binds every configured socket itself and only adds fd 0: a held one would be taken
    assertFalse(held("--binary-path", uwsgi.toString()));
    assertTrue(held("--binary-path", uwsgi.toString(), "--emperor-hold-sockets"));
  }

  private boolean held(String... args) throws Exception {
    String[] all = new String[args.length + 2];
    all[0] = "--emperor";
    all[1] = tmp.toString();
    System.arraycopy(args, 0, all, 2, args.length);
    return Main.build(CommandLine.parse(all)).config().holdSockets();
  }
}
