package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.VassalWorld;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 5, faults with real processes: a SIGKILLed adopted vassal is adopted again at once while
 * the others never stop answering; a SIGKILLed fork server is respawned, adopted vassals serve
 * meanwhile and adoptions asked for while it was down complete; psgi-vassal's own {@code
 * heartbeat} option and SIGSTOP; 100 adoptions asked for at once of one fork server.
 */
class FaultsIT {
  private static final Duration WAIT = VassalWorld.WAIT;
  private VassalWorld world;
  private Emperor emperor;
  private final List<ClientLoop> loops = new ArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    world = VassalWorld.create();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      for (ClientLoop l : loops) {
        l.stop();
      }
    } finally {
      world.close();
    }
  }

  private VassalView view(String name) {
    return emperor.vassal(name).orElseThrow(() -> new AssertionError(name + " not in " + emperor.vassals()));
  }

  /** GETs one port back to back on a thread of its own and records every failure. */
  private final class ClientLoop {
    final int port;
    final AtomicBoolean run = new AtomicBoolean(true);
    final AtomicInteger ok = new AtomicInteger();
    final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
    final Thread thread;

    ClientLoop(int port) {
      this.port = port;
      thread = new Thread(() -> {
        while (run.get()) {
          try {
            Http.Response r = Http.get(port, "/", Duration.ofSeconds(10));
            if (r.status() == 200) {
              ok.incrementAndGet();
            } else {
              errors.add("HTTP " + r.status());
            }
          } catch (Exception e) {
            errors.add(e.toString());
          }
        }
      }, "client-" + port);
      thread.start();
      loops.add(this);
    }

    void stop() throws InterruptedException {
      run.set(false);
      thread.join(20_000);
    }

    void assertClean(int atLeast) throws InterruptedException {
      stop();
      assertTrue(errors.isEmpty(), "client on " + port + " saw errors: " + errors);
      assertTrue(ok.get() >= atLeast, "client on " + port + " got only " + ok + " answers");
    }
  }

  @Test
  void aSigkilledAdoptedVassalIsAdoptedAgainAtOnceAndTheOthersNeverStopAnswering() throws Exception {
    world.writeBase();
    int victim = Ports.free();
    int o1 = Ports.free();
    int o2 = Ports.free();
    world.writeApp("victim.ini", victim, "");
    world.writeApp("other1.ini", o1, "");
    world.writeApp("other2.ini", o2, "");
    emperor = world.start(world.builder());
    for (int p : List.of(victim, o1, o2)) {
      Http.await200(p, WAIT);
    }
    ClientLoop c1 = new ClientLoop(o1);
    ClientLoop c2 = new ClientLoop(o2);
    Thread.sleep(300);

    List<Long> millis = new ArrayList<>();
    for (int round = 1; round <= 3; round++) {
      int old = view("victim.ini").pid();
      int oldWorker = Http.get(victim).helloPid();
      // a vassal killed before its loyalty byte reached the Emperor is rightly blacklisted: the
      // previous round's answer does not mean the Emperor has read its 17 yet
      world.events.await("victim.ini", Type.LOYAL, round, WAIT);
      long t0 = System.nanoTime();
      Signals.kill(old, Signals.SIGKILL);
      // first 200 from a worker of the new vassal (the old worker sees EOF and leaves)
      int worker = 0;
      while (System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos()) {
        try {
          Http.Response r = Http.get(victim, "/", Duration.ofMillis(500));
          if (r.status() == 200 && r.helloPid() != oldWorker) {
            worker = r.helloPid();
            break;
          }
        } catch (java.io.IOException notYet) {
          // refused while nobody listens
        }
        Thread.sleep(5);
      }
      long ms = (System.nanoTime() - t0) / 1_000_000;
      millis.add(ms);
      assertTrue(worker != 0, "the killed vassal did not answer again within 10 s");
      world.events.await("victim.ini", Type.RESPAWNED, round, WAIT);
      int now = view("victim.ini").pid();
      assertNotEquals(old, now);
      assertTrue(view("victim.ini").adopted(), "adopted again, not spawned");
      assertTrue(ProcFs.children(now).contains(worker), "served by the new vassal's worker");
    }
    System.out.println("MEASURE re-adoption after SIGKILL, kill -> first HTTP 200 (ms): " + millis);
    // bounded, not timing-flaky: the 1 s is reported above, the assertion allows a loaded machine
    assertTrue(millis.stream().allMatch(ms -> ms < 5000), "re-adoption took " + millis + " ms");
    Thread.sleep(300);
    c1.assertClean(10);
    c2.assertClean(10);
    assertEquals(0, world.events.count("other1.ini", Type.DIED) + world.events.count("other2.ini", Type.DIED));
    assertEquals(0, world.events.count("victim.ini", Type.BLACKLISTED), "it had been loyal");
  }

  @Test
  void aSigkilledForkServerIsRespawnedAdoptedVassalsServeMeanwhileAndPendingAdoptionsComplete() throws Exception {
    // ForkServerIT covers respawn after a kill and adoption after removal; this adds adoptions that
    // were asked for of the dying fork server, and clients that never see an error meanwhile
    world.writeBase();
    int p1 = Ports.free();
    int p2 = Ports.free();
    world.writeApp("app1.ini", p1, "");
    world.writeApp("app2.ini", p2, "");
    emperor = world.start(world.builder().adoptionTimeout(Duration.ofSeconds(5)));
    Http.await200(p1, WAIT);
    Http.await200(p2, WAIT);
    ClientLoop c1 = new ClientLoop(p1);
    ClientLoop c2 = new ClientLoop(p2);
    int base = view("base.ini").pid();

    // the fork server hangs (SIGSTOP), adoptions are asked for, then it dies: they must not be lost
    Signals.kill(base, 19);
    int p3 = Ports.free();
    int p4 = Ports.free();
    world.writeApp("late3.ini", p3, "");
    world.writeApp("late4.ini", p4, "");
    Await.until("late vassals known", WAIT,
        () -> emperor.vassal("late3.ini").isPresent() && emperor.vassal("late4.ini").isPresent());
    Thread.sleep(700);
    Signals.kill(base, Signals.SIGKILL);
    world.events.await("base.ini", Type.RESPAWNED, 1, WAIT);
    assertNotEquals(base, view("base.ini").pid());

    Http.await200(p3, WAIT);
    Http.await200(p4, WAIT);
    int newBase = view("base.ini").pid();
    for (String n : List.of("late3.ini", "late4.ini")) {
      // it may answer on its held socket before the Emperor has read its pid from the fork server
      Await.until(n + " running", WAIT, () -> view(n).pid() > 0);
      assertTrue(view(n).adopted(), n + " adopted");
      assertEquals(newBase, ProcFs.stat(view(n).pid()).orElseThrow().session(), n + " forked by the new fork server");
    }
    Thread.sleep(300);
    c1.assertClean(10);
    c2.assertClean(10);
    assertEquals(0, world.events.count("app1.ini", Type.DIED) + world.events.count("app2.ini", Type.DIED),
        "adopted vassals outlive their fork server");
  }

  @Test
  void aStoppedVassalWithPsgiVassalsOwnHeartbeatIsKilledAndReplaced() throws Exception {
    world.writeBase();
    int port = Ports.free();
    world.writeApp("beat.ini", port, "heartbeat = 1\n");
    emperor = world.start(world.builder().heartbeat(Duration.ofSeconds(3)));
    Http.await200(port, WAIT);
    Await.until("heartbeats from psgi-vassal's heartbeat option", WAIT,
        () -> view("beat.ini").lastHeartbeat().isPresent());
    Thread.sleep(3500);
    assertEquals(0, world.events.count("beat.ini", Type.HEARTBEAT_MISSED), "a beating vassal is left alone");

    int pid = view("beat.ini").pid();
    long t0 = System.nanoTime();
    Signals.kill(pid, 19);
    VassalEvent missed = world.events.await("beat.ini", Type.HEARTBEAT_MISSED, 1, WAIT);
    long missedMs = (System.nanoTime() - t0) / 1_000_000;
    assertEquals(pid, missed.pid());
    VassalEvent died = world.events.await("beat.ini", Type.DIED, 1, WAIT);
    assertTrue(died.status().orElseThrow().killedBy(Signals.SIGKILL), died.toString());
    Http.Response r = Http.await200(port, WAIT);
    System.out.println("MEASURE SIGSTOP -> heartbeat missed (timeout 3 s, beat 1 s): " + missedMs + " ms");
    assertTrue(missedMs >= 1500, "killed too early: " + missedMs + " ms");
    assertNotEquals(pid, view("beat.ini").pid());
    assertTrue(ProcFs.children(view("beat.ini").pid()).contains(r.helloPid()), "served by the replacement");
  }

  @Test
  void aHundredAdoptionsAskedForAtOnceOfOneForkServerAllServe() throws Exception {
    world.writeBase();
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    emperor = world.start(world.builder().monitor(api).maxConcurrentAdoptions(100)
        .adoptionTimeout(Duration.ofSeconds(60)));
    Http.await200(waitBase(), WAIT);
    List<Integer> ports = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      ports.add(Ports.free());
    }
    long t0 = System.nanoTime();
    for (int i = 0; i < 100; i++) {
      api.add(VassalSpec.ofText("c" + i + ".ini",
          "[uwsgi]\nhttp-socket = 127.0.0.1:" + ports.get(i) + "\nprocesses = 1\n"));
    }
    Await.until("100 adopted vassals accepting", Duration.ofSeconds(180), () -> emperor.vassals().stream()
        .filter(v -> v.adopted() && v.accepting() && v.name().startsWith("c")).count() == 100);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    for (int i = 0; i < 100; i++) {
      assertEquals(200, Http.await200(ports.get(i), WAIT).status(), "c" + i);
    }
    System.out.println("MEASURE 100 concurrent adoptions, all accepting after " + ms + " ms");
    assertEquals(0, world.events.all().stream().filter(e -> e.type() == Type.BLACKLISTED || e.type() == Type.DIED).count(),
        "no failure: " + world.events.all().stream().filter(e -> e.type() == Type.DIED).toList());
  }

  /** A throwaway vassal's port: once it answers, the fork server is up and warm. */
  private int waitBase() throws Exception {
    int p = Ports.free();
    world.writeApp("probe.ini", p, "");
    return p;
  }
}
