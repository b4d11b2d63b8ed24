package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Load;
import io.psgivassal.emperor.testing.Ports;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Held sockets: a reload, a changed socket and a killed master lose no request from clients that
 * open a new connection per request, and every answer afterwards comes from the new config.
 */
class ZeroDowntimeIT extends WorldFixture {
  private static final int CLIENTS = 4;

  private void writeVersioned(String name, int port, int version) throws IOException {
    world.writeApp(name, port, "processes = 2\npsgi = " + world.app("version.psgi") + "\nenv = APP_VERSION=" + version + "\n");
  }

  private static void assertNoFailure(Load load) {
    assertTrue(load.failures().isEmpty(), load.failures().size() + " failed of " + (load.ok() + load.failures().size())
        + ": " + load.failures().subList(0, Math.min(5, load.failures().size())));
    assertTrue(load.ok() > 100, "the load ran: " + load.ok() + " answers");
  }

  /** Until the port answers with config {@code version} (and nothing else from then on). */
  private static void awaitConfig(int port, int version) throws Exception {
    Http.awaitBody(port, "config " + version + " ", WAIT);
  }

  /** Serving config {@code version}, and the Emperor has attached the process (it may serve first). */
  private void awaitServing(String name, int port, int version) throws Exception {
    awaitConfig(port, version);
    Await.until(name + " attached and accepting", WAIT, () -> view(name).pid() > 0 && view(name).accepting());
  }

  @Test
  void aTouchedVassalReloadsWithoutLosingARequest() throws Exception {
    world.writeBase();
    int port = Ports.free();
    writeVersioned("app1.ini", port, 1);
    emperor = world.start(world.builder());
    awaitServing("app1.ini", port, 1);
    int oldPid = view("app1.ini").pid();
    try (Load load = Load.start(port, CLIENTS)) {
      load.awaitMore(200, WAIT);
      for (int version = 2; version <= 3; version++) {
        writeVersioned("app1.ini", port, version);
        awaitConfig(port, version);
        load.awaitMore(200, WAIT);
      }
      load.close();
      assertNoFailure(load);
    }
    Await.until("the first generation gone", WAIT, () -> ProcFs.stat(oldPid).isEmpty());
    assertNotEquals(oldPid, view("app1.ini").pid());
    for (int i = 0; i < 20; i++) {
      assertTrue(Http.get(port).body().startsWith("code none config 3 "), "only the newest config answers");
    }
    assertEquals(0, world.events.count("app1.ini", Type.BLACKLISTED));
    assertEquals(2, view("app1.ini").respawns(), "two reloads");
  }

  @Test
  void aVassalWhoseSocketChangesMovesToTheNewSocketWithoutLosingARequestOnTheOld() throws Exception {
    world.writeBase();
    int oldPort = Ports.free();
    int newPort = Ports.free();
    writeVersioned("app1.ini", oldPort, 1);
    emperor = world.start(world.builder());
    awaitServing("app1.ini", oldPort, 1);
    try (Load load = Load.start(oldPort, CLIENTS)) {
      load.awaitMore(200, WAIT);
      writeVersioned("app1.ini", newPort, 2);
      awaitConfig(newPort, 2);
      java.time.Instant moved = world.events.await("app1.ini", Type.ACCEPTING, 2, WAIT).at();
      load.close();
      // the old port served until the new generation accepted on the new one; after that, the
      // socket has moved and the old address is refused, as the config says
      assertEquals(0, load.failuresBefore(moved), load.failures().toString());
      assertTrue(load.ok() > 100, "the load ran: " + load.ok());
    }
    Await.until("nobody on the old port", WAIT, () -> Http.refused(oldPort));
  }

  @Test
  void aSigkilledMasterIsReplacedWithoutLosingARequest() throws Exception {
    world.writeBase();
    int port = Ports.free();
    writeVersioned("app1.ini", port, 1);
    emperor = world.start(world.builder());
    awaitServing("app1.ini", port, 1);
    try (Load load = Load.start(port, CLIENTS)) {
      for (int round = 1; round <= 3; round++) {
        load.awaitMore(200, WAIT);
        int master = view("app1.ini").pid();
        List<Integer> workers = List.copyOf(ProcFs.children(master));
        Signals.kill(master, Signals.SIGKILL);
        world.events.await("app1.ini", Type.RESPAWNED, round, WAIT);
        Await.until("accepting again", WAIT, () -> view("app1.ini").accepting());
        // the orphaned workers finish their request, exit, and do not linger as zombies of the JVM
        Await.until("orphaned workers " + workers + " reaped", Duration.ofSeconds(1),
            () -> workers.stream().allMatch(w -> ProcFs.stat(w).isEmpty()));
      }
      load.awaitMore(200, WAIT);
      load.close();
      assertNoFailure(load);
    }
    assertEquals(0, world.events.count("app1.ini", Type.BLACKLISTED), "a vassal that was accepting is not throttled");
  }

  @Test
  void aSigkilledWorkerLosesAtMostTheRequestItHeld() throws Exception {
    world.writeBase();
    int port = Ports.free();
    writeVersioned("app1.ini", port, 1);
    emperor = world.start(world.builder());
    awaitServing("app1.ini", port, 1);
    int master = view("app1.ini").pid();
    try (Load load = Load.start(port, CLIENTS)) {
      for (int round = 1; round <= 3; round++) {
        load.awaitMore(200, WAIT);
        Await.until("two workers of " + master, WAIT, () -> ProcFs.children(master).size() == 2);
        List<Integer> workers = List.copyOf(ProcFs.children(master));
        Signals.kill(workers.get(0), Signals.SIGKILL);
        Await.until("the worker replaced", WAIT, () -> ProcFs.children(master).size() == 2
            && !ProcFs.children(master).contains(workers.get(0)));
      }
      load.awaitMore(200, WAIT);
      load.close();
      // a connection the killed worker had accepted dies with it; nothing else may fail
      assertTrue(load.failures().size() <= 3, "at most one request per killed worker: " + load.failures());
      assertTrue(load.ok() > 800, "the load ran: " + load.ok());
    }
    assertEquals(master, view("app1.ini").pid(), "the master survived");
  }
}
