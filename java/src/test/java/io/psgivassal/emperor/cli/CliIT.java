package io.psgivassal.emperor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.psgivassal.emperor.testing.CliProcess;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.VassalWorld;
import java.time.Duration;
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

  /**
   * The library as a named module: the CLI found the engine through the module's {@code provides},
   * JNA spawned and watched a vassal (posix_spawn, epoll, inotify, pidfd), SLF4J found its binding,
   * and SIGTERM stopped it all with status 0.
   */
  @Test
  void theLibraryRunsAsANamedModuleOnTheModulePath() throws Exception {
    int port = Ports.free();
    world.writeApp("app.ini", port, "psgi = " + world.hello + "\n");
    cli = CliProcess.modulePath(world.root, world.dir, emperorArgs());
    Http.await200(port, WAIT);
    cli.process.destroy();
    assertEquals(0, cli.exitStatus(WAIT), cli.logText());
    cli.awaitLog("Emperor stopped", WAIT);
  }
}
