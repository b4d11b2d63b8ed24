package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.Procs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Issue 5, leaks under churn: 1,000 spawn/stop cycles of adopted vassals (programmatic monitor,
 * config over the config pipe, 50 at a time) under one Emperor; the JVM's and the fork server's
 * descriptor counts and the JVM's thread count come back to where they were, and no zombie
 * lingers at any sampled moment.
 */
class ChurnLeaksIT extends WorldFixture {
  private static final int BATCH = 50;
  private static final int CYCLES = 1000;
  /** A zombie may exist between a process's exit and its reaping; one seen this long is a leak. */
  private static final long ZOMBIE_GRACE_MS = 2000;

  private static int fdCount(int pid) {
    try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      return (int) s.count();
    } catch (IOException e) {
      return -1;
    }
  }

  /** Threads of this JVM, less JDK-wide pools other code may grow meanwhile. */
  private static int threads() {
    return (int) Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
        .filter(n -> !n.startsWith("process reaper") && !n.startsWith("ForkJoinPool") && !n.startsWith("zombie-sampler"))
        .count();
  }

  private static int osThreads() throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (l.startsWith("Threads:")) {
        return Integer.parseInt(l.substring(8).trim());
      }
    }
    return -1;
  }

  private void cycle(ProgrammaticMonitor api, List<Integer> ports, int batch) throws Exception {
    for (int i = 0; i < BATCH; i++) {
      api.add(VassalSpec.ofText("c" + batch + "-" + i + ".ini",
          "[uwsgi]\nhttp-socket = 127.0.0.1:" + ports.get(i) + "\nprocesses = 1\n"));
    }
    String prefix = "c" + batch + "-";
    Await.until("batch " + batch + " accepting", WAIT, () -> emperor.vassals().stream()
        .filter(v -> v.name().startsWith(prefix) && v.adopted() && v.accepting()).count() == BATCH);
    // one request each on a few: they really serve
    for (int i = 0; i < BATCH; i += 17) {
      assertEquals(200, Http.get(ports.get(i)).status());
    }
    for (int i = 0; i < BATCH; i++) {
      api.remove("c" + batch + "-" + i + ".ini");
    }
    Await.until("batch " + batch + " removed", WAIT,
        () -> emperor.vassals().stream().noneMatch(v -> v.name().startsWith(prefix)));
  }

  @Test
  void aThousandAdoptedSpawnStopCyclesLeakNoDescriptorThreadOrZombie() throws Exception {
    world.writeBase();
    ProgrammaticMonitor api = new ProgrammaticMonitor("churn");
    emperor = world.start(world.builder().monitor(api).maxConcurrentAdoptions(16)
        .orphanScanInterval(Duration.ofMillis(300)).reloadMercy(Duration.ofSeconds(10)));
    List<Integer> ports = new ArrayList<>();
    for (int i = 0; i < BATCH; i++) {
      ports.add(Ports.free());
    }
    // warm-up batch: lazily created things (JNA, buffers, the first adoption's connection) exist before the baseline
    cycle(api, ports, -1);
    int forkServer = emperor.vassal("base.ini").orElseThrow().pid();
    Thread.sleep(1500);
    int jvmFds0 = ProcFs.openFds().size();
    int fsFds0 = fdCount(forkServer);
    int threads0 = threads();
    int osThreads0 = osThreads();

    AtomicBoolean sampling = new AtomicBoolean(true);
    AtomicInteger samples = new AtomicInteger();
    AtomicInteger transientZombies = new AtomicInteger();
    List<String> lingering = new CopyOnWriteArrayList<>();
    Thread sampler = new Thread(() -> {
      Map<Integer, Long> firstSeen = new HashMap<>();
      while (sampling.get()) {
        long now = System.currentTimeMillis();
        List<Integer> z = new ArrayList<>(Procs.zombieChildren());
        for (int p : ProcFs.children(forkServer)) {
          if (ProcFs.stat(p).map(ProcFs.Stat::zombie).orElse(false)) {
            z.add(p);
          }
        }
        firstSeen.keySet().retainAll(z);
        for (int p : z) {
          Long first = firstSeen.putIfAbsent(p, now);
          if (first == null) {
            transientZombies.incrementAndGet();
          } else if (now - first > ZOMBIE_GRACE_MS && !lingering.contains("zombie " + p)) {
            lingering.add("zombie " + p);
          }
        }
        samples.incrementAndGet();
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "zombie-sampler");
    sampler.start();
    long t0 = System.nanoTime();
    List<String> atBoundaries = new ArrayList<>();
    try {
      for (int b = 0; b < CYCLES / BATCH; b++) {
        cycle(api, ports, b);
        // between batches every process of the last one has been removed and reaped: a zombie
        // seen here (of the JVM or of the fork server) is one nobody is going to reap
        List<Integer> z = new ArrayList<>(Procs.zombieChildren());
        ProcFs.children(forkServer).stream()
            .filter(p -> ProcFs.stat(p).map(ProcFs.Stat::zombie).orElse(false)).forEach(z::add);
        if (!z.isEmpty()) {
          atBoundaries.add("after batch " + b + ": " + z);
        }
      }
    } finally {
      sampling.set(false);
      sampler.join(5000);
    }
    long secs = (System.nanoTime() - t0) / 1_000_000_000;
    assertEquals(CYCLES, world.events.all().stream()
        .filter(e -> e.type() == Type.REMOVED && e.vassal().startsWith("c") && !e.vassal().startsWith("c-1-")).count());
    assertEquals(0, world.events.all().stream().filter(e -> e.type() == Type.BLACKLISTED).count());

    // counts settle once the last vassals' descriptors are closed
    int[] end = new int[4];
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    do {
      Thread.sleep(200);
      end[0] = ProcFs.openFds().size();
      end[1] = fdCount(forkServer);
      end[2] = threads();
      end[3] = osThreads();
    } while ((end[0] != jvmFds0 || end[1] != fsFds0 || end[2] != threads0) && System.nanoTime() < deadline);
    System.out.printf("MEASURE churn: %d adopted spawn/stop cycles in %d s; JVM fds %d -> %d, fork-server fds %d -> %d,"
        + " JVM threads %d -> %d (OS threads %d -> %d); %d zombie samples, %d transient zombies seen, lingering: %s%n",
        CYCLES, secs, jvmFds0, end[0], fsFds0, end[1], threads0, end[2], osThreads0, end[3], samples.get(),
        transientZombies.get(), lingering);
    assertEquals(forkServer, emperor.vassal("base.ini").orElseThrow().pid(), "one fork server throughout");
    assertEquals(jvmFds0, end[0], "JVM descriptors");
    assertEquals(fsFds0, end[1], "fork-server descriptors");
    assertEquals(threads0, end[2], "JVM threads");
    assertTrue(samples.get() > 100, "sampled " + samples);
    assertEquals(List.of(), lingering, "zombies not reaped within " + ZOMBIE_GRACE_MS + " ms");
    assertEquals(List.of(), atBoundaries, "zombies left once a batch was removed");
  }
}
