package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.Procs;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Process hygiene: the host's own {@code Process} children keep their exit codes while vassals
 * churn, orphans re-parented to the JVM are reaped, one event-loop thread serves 5 or 500
 * vassals alike, and a thousand vassals present at start are all taken up at once.
 */
class ProcessHygieneIT extends WorldFixture {
  /** A vassal that costs one small process: ready + accepting, then waits for any byte from the Emperor. */
  private static final String CHEAP = "#!/bin/sh\nprintf '\\001\\005' >&3\nexec head -c1 <&3 >/dev/null\n";

  private Path script(String name, String text) throws Exception {
    Path p = world.dir.resolve(name);
    Files.writeString(p, text);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }

  @Test
  void processBuilderChildrenKeepTheirExitCodesWhileFiftyVassalsChurnAndOrphansAreReaped() throws Exception {
    world.writeBase();
    List<Integer> ports = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      ports.add(Ports.free());
      world.writeApp("c" + i + ".ini", ports.get(i), "");
    }
    emperor = world.start(world.builder().orphanScanInterval(Duration.ofMillis(300)));
    Await.until("50 vassals accepting", Duration.ofSeconds(120),
        () -> emperor.vassals().stream().filter(v -> v.adopted() && v.accepting()).count() == 50);

    // churn: SIGKILL a vassal (its workers die and are orphaned to the JVM) or change its config
    AtomicBoolean churning = new AtomicBoolean(true);
    AtomicInteger kills = new AtomicInteger();
    AtomicInteger reloads = new AtomicInteger();
    Thread churn = new Thread(() -> {
      Random rnd = new Random(4);
      while (churning.get()) {
        String name = "c" + rnd.nextInt(50) + ".ini";
        try {
          if (rnd.nextBoolean()) {
            int pid = emperor.vassal(name).map(VassalView::pid).orElse(0);
            if (pid > 0) {
              Signals.kill(pid, Signals.SIGKILL);
              kills.incrementAndGet();
            }
          } else {
            Files.setLastModifiedTime(world.vassals.resolve(name), FileTime.from(Instant.now().plusSeconds(rnd.nextInt(1000))));
            reloads.incrementAndGet();
          }
          Thread.sleep(40);
        } catch (NativeException | java.io.IOException e) {
          // the vassal was between processes: fine
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "churn");
    churn.start();
    List<Integer> jvmSessionOrphans = new ArrayList<>();
    try {
      for (int k = 0; k < 150; k++) {
        Process p = new ProcessBuilder("/bin/sh", "-c", "exit " + k).start();
        assertEquals(k, p.waitFor(), "exit code of ProcessBuilder command #" + k);
        if (k % 15 == 0) {
          // leaves a child behind in the JVM's own session: it re-parents to the JVM (the subreaper)
          Process q = new ProcessBuilder("/bin/sh", "-c", "sleep 0.2 & echo $!; exit 7").start();
          String orphan = new String(q.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
          assertEquals(7, q.waitFor());
          jvmSessionOrphans.add(Integer.parseInt(orphan));
        }
      }
    } finally {
      churning.set(false);
      churn.interrupt();
      churn.join(10_000);
    }
    assertTrue(kills.get() > 5 && reloads.get() > 5, "churned: " + kills + " kills, " + reloads + " reloads");
    Await.until("all 50 accepting again", Duration.ofSeconds(120),
        () -> emperor.vassals().stream().filter(v -> v.adopted() && v.accepting()).count() == 50);
    for (int port : ports) {
      assertEquals(200, Http.await200(port, WAIT).status());
    }
    Await.until("orphans of the JVM's session reaped " + jvmSessionOrphans, WAIT,
        () -> jvmSessionOrphans.stream().allMatch(p -> ProcFs.stat(p).isEmpty()));
    Await.until("no zombie child of the JVM " + Procs.zombieChildren(), WAIT, () -> Procs.zombieChildren().isEmpty());
    // every live child in a vassal session is a vassal the Emperor knows: nothing stray
    Set<Integer> known = emperor.vassals().stream().map(VassalView::pid).collect(Collectors.toSet());
    Await.until("no stray vassal descendant", WAIT, () -> known.containsAll(Procs.vassalChildren()));
  }

  private static Set<String> newThreads(Set<Thread> baseline) {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> !baseline.contains(t)).map(Thread::getName)
        // JVM-wide pools other code of this JVM may be using meanwhile, and JNA's one cleaner thread
        .filter(n -> !n.startsWith("process reaper") && !n.startsWith("ForkJoinPool") && !n.equals("JNA Cleaner"))
        .collect(Collectors.toCollection(TreeSet::new));
  }

  @Test
  void theThreadCountIsTheSameWithFiveAndWithFiveHundredVassals() throws Exception {
    Path bin = script("cheap-vassal", CHEAP);
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    for (int i = 0; i < 5; i++) {
      api.add(VassalSpec.ofText("t" + i + ".ini", "").withStart(new VassalSpec.Plain()));
    }
    Set<Thread> baseline = Set.copyOf(Thread.getAllStackTraces().keySet());
    emperor = world.start(Emperor.builder().monitor(api).vassalDirectory(world.vassals).binaryPath(bin.toString()));
    Await.until("5 accepting", WAIT, () -> emperor.vassals().stream().filter(VassalView::accepting).count() == 5);
    Set<String> with5 = newThreads(baseline);

    for (int i = 5; i < 500; i++) {
      api.add(VassalSpec.ofText("t" + i + ".ini", "").withStart(new VassalSpec.Plain()));
    }
    Await.until("500 accepting", Duration.ofSeconds(120),
        () -> emperor.vassals().stream().filter(VassalView::accepting).count() == 500);
    Set<String> with500 = newThreads(baseline);
    assertEquals(with5, with500, "threads with 5 vassals vs with 500");
    // and the events thread, which hands events to the test's directExecutor listener, and the one I/O
    // thread, which lists, stats and reads config files off the loop: no vassal's
    assertEquals(Set.of("Emperor", "emperor-events", "emperor-io"), with500,
        "the event loop alone: the directory monitor's inotify descriptor is one more of its descriptors");
  }

  @Test
  void aThousandVassalsPresentAtStartAreAllTakenUpAtOnce() throws Exception {
    Path bin = script("cheap-vassal", CHEAP);
    for (int i = 0; i < 1000; i++) {
      Files.writeString(world.vassals.resolve("k" + i + ".ini"), "[uwsgi]\n");
    }
    emperor = world.start(Emperor.builder().vassalDirectory(world.vassals).binaryPath(bin.toString()));
    Await.until("1000 accepting", Duration.ofSeconds(180),
        () -> emperor.vassals().stream().filter(VassalView::accepting).count() == 1000);
    assertEquals(1000, world.events.all().stream().filter(e -> e.type() == Type.SPAWNED).count());
    assertTrue(world.events.all().stream().noneMatch(e -> e.type() == Type.BLACKLISTED || e.type() == Type.DIED));
  }

  @Test
  void aThousandOnDemandVassalsPresentAtStartAllWaitOnTheirSocketsAtOnce() throws Exception {
    Path bin = script("cheap-vassal", CHEAP);
    Path sockets = Files.createDirectory(world.dir.resolve("s"));
    for (int i = 0; i < 1000; i++) {
      Files.writeString(world.vassals.resolve("d" + i + ".ini"), "[uwsgi]\n");
    }
    emperor = world.start(Emperor.builder().vassalDirectory(world.vassals).binaryPath(bin.toString())
        .onDemandDirectory(sockets));
    Await.until("1000 on demand", Duration.ofSeconds(120),
        () -> emperor.vassals().stream().filter(v -> v.state() == VassalState.ON_DEMAND).count() == 1000);
    try (var list = Files.list(sockets)) {
      assertEquals(1000, list.count());
    }
    assertEquals(0, world.events.all().stream().filter(e -> e.type() == Type.SPAWNED).count());
  }
}
