package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * --emperor-heartbeat and on-demand vassals (--emperor-on-demand-extension,
 * --emperor-on-demand-directory) with psgi-vassal processes adopted from the Perl fork server.
 * The heartbeats and the idle byte come from test apps (heartbeat.psgi, idle.psgi) because
 * psgi-vassal's own `heartbeat` and `idle` options are still being written (issue 3).
 */
class HeartbeatAndOnDemandIT extends WorldFixture {
  @Test
  void aVassalSilentForTheHeartbeatTimeoutIsKilledAndRespawned() throws Exception {
    world.writeBase();
    int port = Ports.free();
    world.writeApp("beat.ini", port, "psgi = " + world.app("heartbeat.psgi") + "\n");
    emperor = world.start(world.builder().heartbeat(Duration.ofSeconds(3)));
    Http.await200(port, WAIT);
    Await.until("heartbeats arrive", WAIT, () -> view("beat.ini").lastHeartbeat().isPresent());
    Thread.sleep(3500);
    assertEquals(0, world.events.count("beat.ini", Type.HEARTBEAT_MISSED), "a beating vassal is left alone");

    int pid = view("beat.ini").pid();
    Signals.kill(pid, 19); // SIGSTOP: its master stops beating (its workers would still answer)
    VassalEvent missed = world.events.await("beat.ini", Type.HEARTBEAT_MISSED, 1, WAIT);
    assertEquals(pid, missed.pid());
    VassalEvent died = world.events.await("beat.ini", Type.DIED, 1, WAIT);
    assertTrue(died.status().orElseThrow().killedBy(Signals.SIGKILL), died.toString());
    world.events.await("beat.ini", Type.RESPAWNED, 1, WAIT);
    Http.Response r = Http.await200(port, WAIT);
    assertNotEquals(pid, view("beat.ini").pid());
    assertTrue(ProcFs.children(view("beat.ini").pid()).contains(r.helloPid()), "served by the respawned vassal");
    assertEquals(0, world.events.count("beat.ini", Type.BLACKLISTED), "it was loyal");
  }

  @Test
  void anOnDemandVassalStartsOnTheFirstConnectionAndGoesBackToItsSocketWhenIdle() throws Exception {
    world.writeBase();
    int port = Ports.free();
    world.write("lazy.ini", "[uwsgi]\nprocesses = 1\npsgi = " + world.app("idle.psgi") + "\n");
    Files.writeString(world.vassals.resolve("lazy.ini.socket"), "127.0.0.1:" + port + "\n");
    // graceful: a request a worker already accepted when the vassal is told to stop is answered
    emperor = world.start(world.builder().onDemandExtension(".socket").gracefulShutdown(true));
    Await.until("waiting on its socket", WAIT,
        () -> emperor.vassal("lazy.ini").map(v -> v.state() == VassalState.ON_DEMAND).orElse(false));
    assertEquals(0, view("lazy.ini").pid());
    assertEquals("127.0.0.1:" + port, view("lazy.ini").onDemand().orElseThrow());
    Thread.sleep(500);
    assertEquals(0, world.events.count("lazy.ini", Type.SPAWNED), "nothing starts before a connection");

    // the first connection waits in the Emperor's backlog while the vassal is adopted
    Http.Response first = Http.get(port);
    assertEquals(200, first.status());
    VassalEvent spawned = world.events.of("lazy.ini", Type.SPAWNED).get(0);
    assertTrue(spawned.adopted(), "adopted, the socket passed as fd 0");
    assertEquals(spawned.pid(), ProcFs.stat(first.helloPid()).orElseThrow().ppid());

    // idle (22): stopped, and back to waiting; the socket stays bound throughout
    world.events.await("lazy.ini", Type.DIED, 1, WAIT);
    Await.until("back to waiting", WAIT,
        () -> emperor.vassal("lazy.ini").map(v -> v.state() == VassalState.ON_DEMAND).orElse(false));
    Http.Response second = Http.get(port);
    assertEquals(200, second.status());
    assertNotEquals(spawned.pid(), world.events.of("lazy.ini", Type.SPAWNED).get(1).pid());
    assertEquals(0, world.events.count("lazy.ini", Type.BLACKLISTED), "idle is not a failure");

    // connections keep coming while it stops and restarts: none is refused
    List<CompletableFuture<Integer>> clients = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      Thread.sleep(500);
      clients.add(CompletableFuture.supplyAsync(() -> {
        try {
          return Http.get(port, "/", Duration.ofSeconds(40)).status();
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      }));
    }
    for (CompletableFuture<Integer> c : clients) {
      assertEquals(200, c.get(60, TimeUnit.SECONDS));
    }
  }

  @Test
  void onDemandSocketsFromADirectoryAreUnixSocketsTheEmperorRemoves() throws Exception {
    // the base must not be on demand itself: it comes from a programmatic monitor
    ProgrammaticMonitor bases = new ProgrammaticMonitor("bases");
    Path baseIni = world.dir.resolve("base.ini");
    Files.writeString(baseIni, "[uwsgi]\nearly-psgi = " + world.hello + "\nfork-server = " + world.forkSocket + "\n");
    bases.add(VassalSpec.ofFile(baseIni).withStart(new VassalSpec.Plain()));
    Path sockets = Files.createDirectory(world.dir.resolve("sockets"));
    world.write("u1.ini", "[uwsgi]\nprocesses = 1\n");
    world.write("u2.ini", "[uwsgi]\nprocesses = 1\n");
    emperor = world.start(world.builder().monitor(bases).onDemandDirectory(sockets));
    Await.until("both waiting", WAIT, () -> emperor.vassals().stream()
        .filter(v -> v.state() == VassalState.ON_DEMAND).count() == 2);
    Path u1 = sockets.resolve("u1.socket");
    assertEquals(u1.toString(), view("u1.ini").onDemand().orElseThrow());
    assertTrue(Files.exists(u1) && Files.exists(sockets.resolve("u2.socket")));

    Http.Response r = Http.getUnix(u1, "/");
    assertEquals(200, r.status());
    assertTrue(view("u1.ini").adopted() && view("u1.ini").pid() > 0);
    assertEquals(VassalState.ON_DEMAND, view("u2.ini").state(), "u2 had no connection");

    Files.delete(world.vassals.resolve("u2.ini"));
    world.events.await("u2.ini", Type.REMOVED, 1, WAIT);
    assertFalse(Files.exists(sockets.resolve("u2.socket")), "a removed vassal's socket file is removed");
    emperor.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);
    assertFalse(Files.exists(u1), "sockets are removed when the Emperor stops");
  }
}
