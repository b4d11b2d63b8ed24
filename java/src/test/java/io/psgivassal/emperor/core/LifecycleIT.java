package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The lifecycle rules of issue 4 against real psgi-vassal processes adopted from the Perl fork
 * server: new config, changed config, removed config (immediate, graceful, stubborn), death and
 * respawn, the blacklist and its throttle.
 */
class LifecycleIT extends WorldFixture {
  @BeforeEach
  void writeBase() throws Exception {
    world.writeBase();
  }

  private void awaitAccepting(String name) throws InterruptedException {
    Await.until(name + " accepting", WAIT, () -> emperor.vassal(name).map(VassalView::accepting).orElse(false));
  }

  private void touch(String name) throws IOException {
    Files.setLastModifiedTime(world.vassals.resolve(name), FileTime.from(Instant.now().plusSeconds(10)));
  }

  @Test
  void newConfigSpawnsChangedConfigReloadsWithoutBlameRemovedConfigStops() throws Exception {
    int p1 = Ports.free();
    world.writeApp("app1.ini", p1, "");
    emperor = world.start(world.builder());
    awaitAccepting("app1.ini");
    int firstPid = view("app1.ini").pid();
    assertTrue(view("app1.ini").adopted());

    // new: a file appearing while the Emperor runs is taken up
    int p2 = Ports.free();
    world.writeApp("app2.ini", p2, "");
    assertEquals(200, Http.await200(p2, WAIT).status());
    assertTrue(view("app2.ini").adopted());

    // changed: 1 is sent, the adopted vassal exits and a fresh one is adopted; it was never
    // loyal (no request yet), and that must not count as a failure
    touch("app1.ini");
    world.events.await("app1.ini", Type.RELOAD_SENT, 1, WAIT);
    VassalEvent died = world.events.await("app1.ini", Type.DIED, 1, WAIT);
    assertTrue(died.status().orElseThrow().exitedWith(0), died.toString());
    world.events.await("app1.ini", Type.RESPAWNED, 1, WAIT);
    Http.Response r = Http.await200(p1, WAIT);
    assertNotEquals(firstPid, view("app1.ini").pid());
    assertTrue(ProcFs.children(view("app1.ini").pid()).contains(r.helloPid()), "served by the new vassal");
    assertEquals(0, world.events.count("app1.ini", Type.BLACKLISTED), "a reload is not a failure");
    assertTrue(emperor.blacklist().isEmpty());
    assertEquals(1, view("app1.ini").respawns());

    // removed: 0 is sent, the vassal and its workers go, the Emperor forgets it
    int pid2 = view("app2.ini").pid();
    List<Integer> workers2 = List.copyOf(ProcFs.children(pid2));
    Files.delete(world.vassals.resolve("app2.ini"));
    world.events.await("app2.ini", Type.REMOVED, 1, WAIT);
    assertEquals("its config was removed: sent 0 (stop)", world.events.of("app2.ini", Type.CURSED).get(0).detail());
    assertTrue(emperor.vassal("app2.ini").isEmpty());
    Await.until("app2 and its workers gone", WAIT,
        () -> ProcFs.stat(pid2).isEmpty() && workers2.stream().allMatch(w -> ProcFs.stat(w).isEmpty()));
    assertThrows(IOException.class, () -> Http.get(p2, "/", Duration.ofSeconds(5)), "nobody listens on app2's port");
    assertEquals(200, Http.get(p1).status(), "app1 unaffected");
  }

  @Test
  void gracefulRemovalLetsTheRequestInFlightFinish() throws Exception {
    int port = Ports.free();
    world.writeApp("slow.ini", port, "psgi = " + world.app("slow.psgi") + "\n");
    emperor = world.start(world.builder().gracefulShutdown(true));
    awaitAccepting("slow.ini");
    CompletableFuture<Http.Response> inFlight = slowRequestInFlight(port);
    Files.delete(world.vassals.resolve("slow.ini"));
    Http.Response r = inFlight.get(60, TimeUnit.SECONDS);
    assertEquals(200, r.status());
    assertTrue(r.body().startsWith("Slow hello"), r.body());
    world.events.await("slow.ini", Type.REMOVED, 1, WAIT);
    assertEquals("its config was removed: sent 2 (graceful stop)", world.events.of("slow.ini", Type.CURSED).get(0).detail());
  }

  @Test
  void immediateRemovalCutsTheRequestInFlight() throws Exception {
    int port = Ports.free();
    world.writeApp("slow.ini", port, "psgi = " + world.app("slow.psgi") + "\n");
    emperor = world.start(world.builder());
    awaitAccepting("slow.ini");
    CompletableFuture<Http.Response> inFlight = slowRequestInFlight(port);
    Files.delete(world.vassals.resolve("slow.ini"));
    world.events.await("slow.ini", Type.REMOVED, 1, WAIT);
    assertThrows(Exception.class, () -> inFlight.get(60, TimeUnit.SECONDS), "byte 0 stops at once");
  }

  @Test
  void aRemovedVassalThatDoesNotStopIsKilledAfterTheReloadMercy() throws Exception {
    int port = Ports.free();
    world.writeApp("frozen.ini", port, "");
    emperor = world.start(world.builder().reloadMercy(Duration.ofSeconds(2)));
    awaitAccepting("frozen.ini");
    int pid = view("frozen.ini").pid();
    Signals.kill(pid, 19); // SIGSTOP: it cannot read its stop byte
    try {
      Files.delete(world.vassals.resolve("frozen.ini"));
      VassalEvent died = world.events.await("frozen.ini", Type.DIED, 1, WAIT);
      assertTrue(died.status().orElseThrow().killedBy(Signals.SIGKILL), died.toString());
      world.events.await("frozen.ini", Type.REMOVED, 1, WAIT);
      Duration took = Duration.between(world.events.of("frozen.ini", Type.CURSED).get(0).at(), died.at());
      assertTrue(took.toMillis() >= 1900, "killed only once the mercy was over, after " + took);
    } finally {
      ProcFs.stat(pid).ifPresent(s -> Signals.kill(pid, 18)); // SIGCONT, should the test have failed early
    }
  }

  @Test
  void aVassalThatDiesIsRespawnedAndALoyalOneIsNotBlacklisted() throws Exception {
    int port = Ports.free();
    world.writeApp("app.ini", port, "");
    emperor = world.start(world.builder());
    awaitAccepting("app.ini");
    Http.await200(port, WAIT);
    Await.until("loyal", WAIT, () -> view("app.ini").loyal());
    int pid = view("app.ini").pid();
    Signals.kill(pid, Signals.SIGKILL);
    VassalEvent died = world.events.await("app.ini", Type.DIED, 1, WAIT);
    assertTrue(died.status().orElseThrow().killedBy(Signals.SIGKILL));
    world.events.await("app.ini", Type.RESPAWNED, 1, WAIT);
    Http.Response r = Http.await200(port, WAIT);
    assertNotEquals(pid, view("app.ini").pid());
    assertTrue(ProcFs.children(view("app.ini").pid()).contains(r.helloPid()));
    assertEquals(0, world.events.count("app.ini", Type.BLACKLISTED));
  }

  @Test
  void aVassalThatDiesBeforeItIsLoyalIsThrottledMoreEachTimeUntilItIsLoyal() throws Exception {
    int port = Ports.free();
    // the app does not exist: every adopted vassal dies while loading it
    world.writeApp("broken.ini", port, "psgi = " + world.dir.resolve("missing.psgi") + "\n");
    emperor = world.start(world.builder().throttle(Duration.ofMillis(300)).maxThrottle(Duration.ofMillis(900)));
    world.events.await("broken.ini", Type.BLACKLISTED, 4, WAIT);
    List<Long> throttles = world.events.of("broken.ini", Type.BLACKLISTED).stream().limit(4)
        .map(e -> e.throttle().orElseThrow().toMillis()).toList();
    assertEquals(List.of(300L, 600L, 900L, 900L), throttles);
    VassalEvent died = world.events.of("broken.ini", Type.DIED).get(0);
    assertFalse(died.status().orElseThrow().exitedWith(0), died.toString());
    assertTrue(view("broken.ini").blacklisted());
    assertEquals("broken.ini", emperor.blacklist().get(0).vassal());
    assertTrue(view("base.ini").loyal() && view("base.ini").pid() > 0, "the base and everything else carry on");

    world.writeApp("broken.ini", port, ""); // fixed: serves the preloaded hello.psgi
    Http.await200(port, WAIT);
    Await.until("loyal and off the blacklist", WAIT,
        () -> view("broken.ini").loyal() && emperor.blacklist().isEmpty() && !view("broken.ini").blacklisted());
  }

  /** A request to slow.psgi, returned once the app is serving it (it touches ?mark= first). */
  private CompletableFuture<Http.Response> slowRequestInFlight(int port) throws Exception {
    Path mark = world.dir.resolve("in-flight");
    CompletableFuture<Http.Response> inFlight = CompletableFuture.supplyAsync(() -> {
      try {
        return Http.get(port, "/?mark=" + mark, Duration.ofSeconds(30));
      } catch (IOException e) {
        throw new RuntimeException(e);
      }
    });
    Await.until("the request is being served", WAIT, () -> Files.exists(mark));
    return inFlight;
  }

  @Test
  void aStopWithAFrozenVassalStopsEveryOtherAtOnceAndLeavesNoForkServerSocket() throws Exception {
    world.writeBase();
    int p1 = Ports.free();
    int p2 = Ports.free();
    world.writeApp("frozen.ini", p1, "");
    world.writeApp("healthy.ini", p2, "");
    emperor = world.start(world.builder().reloadMercy(Duration.ofSeconds(3)));
    Http.await200(p1, WAIT);
    Http.await200(p2, WAIT);
    int frozen = view("frozen.ini").pid();
    Signals.kill(frozen, Signals.SIGSTOP);
    try {
      emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    } finally {
      if (ProcFs.stat(frozen).isPresent()) {
        Signals.kill(frozen, Signals.SIGCONT); // only if the stop failed: let the world's cleanup kill it
      }
    }
    VassalEvent base = world.events.await("base.ini", Type.DIED, 1, WAIT);
    assertTrue(base.status().orElseThrow().exitedWith(0), "the base got its stop byte at once: " + base);
    assertTrue(world.events.await("healthy.ini", Type.DIED, 1, WAIT).status().orElseThrow().exitedWith(0));
    assertTrue(world.events.await("frozen.ini", Type.DIED, 1, WAIT).status().orElseThrow().killedBy(Signals.SIGKILL));
    assertFalse(Files.exists(world.forkSocket), "no fork-server socket outlives the Emperor");
  }
}
