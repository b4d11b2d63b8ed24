package io.psgivassal.emperor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class MainTest {
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
  }

  @Test
  void helpPrintsUsage() {
    assertEquals(0, run("--help"));
    assertTrue(out.startsWith("usage: emperor --emperor DIR"), out);
    assertEquals("", err);
  }

  @Test
  void parsesRepeatedForkBasesAndEqualsForm() throws Exception {
    CommandLine cl = CommandLine.parse(new String[] {"--emperor=/v", "--emperor-use-fork-server", "/run/f.sock",
        "--vassal-fork-base", "base.ini", "--vassal-fork-base=other.ini", "--binary-path", "/usr/bin/psgi-vassal",
        "--reload-mercy", "7"});
    assertEquals(Path.of("/v"), cl.emperorDir().orElseThrow());
    assertEquals(Path.of("/run/f.sock"), cl.forkServerSocket().orElseThrow());
    assertEquals(List.of("base.ini", "other.ini"), cl.forkBases());
    assertEquals("/usr/bin/psgi-vassal", cl.binaryPath().orElseThrow());
    assertEquals(Duration.ofSeconds(7), cl.reloadMercy());
  }
}
