package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.MoreExecutors;
import io.psgivassal.emperor.natives.ProcFs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Emperor against shell-script vassals (base) and a Java fake fork server (adopted). */
class EmperorTest {
  /** Reports ready + accepting, then waits for any byte (or EOF) from the Emperor and exits. */
  static final String WELL_BEHAVED = "#!/bin/sh\nprintf '\\001\\005' >&3\nhead -c1 <&3 >/dev/null\nexit 0\n";

  @TempDir Path dir;
  private Emperor emperor;

  @AfterEach
  void stopEmperor() throws Exception {
    if (emperor != null && emperor.isRunning()) {
      emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    }
  }

  private Path script(String name, String text) throws Exception {
    Path p = dir.resolve(name);
    Files.writeString(p, text);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }

  private Path vassalDir(String... inis) throws Exception {
    Path vd = Files.createDirectory(dir.resolve("vassals"));
    for (String ini : inis) {
      Files.writeString(vd.resolve(ini), "[uwsgi]\nhttp-socket = :9" + ini.length() + "\n");
    }
    Files.writeString(vd.resolve("ignored.txt"), "not a vassal");
    return vd;
  }

  /**
   * Counts the descriptors of the kinds the Emperor creates. Comparing all descriptors would
   * also catch the jar files the class loader opens meanwhile.
   */
  static Map<String, Long> ownKindsOfFds() {
    Map<String, Long> out = new TreeMap<>();
    for (int fd : ProcFs.openFds()) {
      try {
        String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        String kind = link.startsWith("socket:") ? "socket" : link.startsWith("anon_inode:") ? link.substring(11) : null;
        if (kind != null) {
          out.merge(kind, 1L, Long::sum);
        }
      } catch (java.io.IOException closedMeanwhile) {
        // the directory stream's own descriptor, or one closed while listing
      }
    }
    return out;
  }

  static void await(String what, Duration max, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  @Test
  void spawnsBaseVassalsTracksStatesAndStopsThem() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    List<VassalEvent> events = new CopyOnWriteArrayList<>();
    Map<String, Long> fdsBefore = ownKindsOfFds();
    emperor = Emperor.builder().vassalDirectory(vassalDir("a.ini", "b.ini")).binaryPath(bin.toString())
        .reloadMercy(Duration.ofSeconds(5)).build();
    emperor.addListener(events::add, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning(10, TimeUnit.SECONDS);
    await("both accepting", Duration.ofSeconds(10),
        () -> emperor.vassals().size() == 2 && emperor.vassals().stream().allMatch(VassalView::accepting));

    List<VassalView> views = emperor.vassals();
    assertEquals(List.of("a.ini", "b.ini"), views.stream().map(VassalView::name).toList());
    List<Integer> pids = views.stream().map(VassalView::pid).toList();
    assertNotEquals(pids.get(0), pids.get(1));
    for (VassalView v : views) {
      assertFalse(v.adopted());
      assertEquals(VassalState.ACCEPTING, v.state());
      assertEquals("http://127.0.0.1:9" + v.name().length() + "/", v.httpUrl().orElseThrow().toString());
      ProcFs.Stat st = ProcFs.stat(v.pid()).orElseThrow();
      assertEquals(ProcessHandle.current().pid(), st.ppid());
      assertEquals(v.pid(), st.session(), "vassal leads its own session");
    }

    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    for (int pid : pids) {
      assertTrue(ProcFs.stat(pid).isEmpty(), "pid " + pid + " is gone");
    }
    assertTrue(emperor.vassals().stream().allMatch(v -> v.state() == VassalState.DEAD && v.pid() == 0));
    assertEquals(fdsBefore, ownKindsOfFds(), "every pipe, pidfd, epoll and eventfd descriptor was closed");
    List<VassalEvent.Type> forA = events.stream().filter(e -> e.vassal().equals("a.ini")).map(VassalEvent::type).toList();
    assertEquals(List.of(VassalEvent.Type.SPAWNED, VassalEvent.Type.READY, VassalEvent.Type.ACCEPTING,
        VassalEvent.Type.DIED), forA);
    VassalEvent died = events.stream().filter(e -> e.type() == VassalEvent.Type.DIED).findFirst().orElseThrow();
    assertTrue(died.status().orElseThrow().exitedWith(0), died.toString());
  }

  @Test
  void respawnsAVassalThatDies() throws Exception {
    // the first run exits 3 at once; later runs behave
    Path marker = dir.resolve("ran-once");
    Path bin = script("flaky", "#!/bin/sh\nif [ ! -e " + marker + " ]; then touch " + marker + "; exit 3; fi\n"
        + WELL_BEHAVED.substring(WELL_BEHAVED.indexOf('\n') + 1));
    List<VassalEvent> events = new CopyOnWriteArrayList<>();
    emperor = Emperor.builder().vassalDirectory(vassalDir("x.ini")).binaryPath(bin.toString())
        .respawnDelay(Duration.ofMillis(200)).reloadMercy(Duration.ofSeconds(5)).build();
    emperor.addListener(events::add, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning();
    await("respawned and accepting", Duration.ofSeconds(10),
        () -> emperor.vassal("x.ini").map(v -> v.accepting() && v.respawns() == 1).orElse(false));
    VassalEvent died = events.stream().filter(e -> e.type() == VassalEvent.Type.DIED).findFirst().orElseThrow();
    assertTrue(died.status().orElseThrow().exitedWith(3));
    assertTrue(events.stream().anyMatch(e -> e.type() == VassalEvent.Type.RESPAWNED));
  }

  @Test
  void idleVassalIsStoppedAndNotRespawned() throws Exception {
    Path bin = script("idle", "#!/bin/sh\nprintf '\\001\\026' >&3\nhead -c1 <&3 >/dev/null\nexit 0\n");
    emperor = Emperor.builder().vassalDirectory(vassalDir("i.ini")).binaryPath(bin.toString())
        .respawnDelay(Duration.ofMillis(100)).build();
    emperor.startAsync().awaitRunning();
    await("stopped", Duration.ofSeconds(10),
        () -> emperor.vassal("i.ini").map(v -> v.state() == VassalState.DEAD).orElse(false));
    Thread.sleep(400);
    assertEquals(VassalState.DEAD, emperor.vassal("i.ini").orElseThrow().state());
    assertEquals(0, emperor.vassal("i.ini").orElseThrow().respawns());
  }

  @Test
  void stubbornVassalIsKilledAfterReloadMercy() throws Exception {
    // ignores the stop byte and keeps running: only SIGKILL ends it
    Path bin = script("stubborn", "#!/bin/sh\nprintf '\\001' >&3\nexec sleep 60\n");
    List<VassalEvent> events = new CopyOnWriteArrayList<>();
    emperor = Emperor.builder().vassalDirectory(vassalDir("s.ini")).binaryPath(bin.toString())
        .reloadMercy(Duration.ofMillis(500)).build();
    emperor.addListener(events::add, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning();
    await("ready", Duration.ofSeconds(10), () -> emperor.vassal("s.ini").map(VassalView::ready).orElse(false));
    int pid = emperor.vassal("s.ini").orElseThrow().pid();
    long t0 = System.nanoTime();
    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    assertTrue(System.nanoTime() - t0 >= 400_000_000L);
    assertTrue(ProcFs.stat(pid).isEmpty());
    VassalEvent died = events.stream().filter(e -> e.type() == VassalEvent.Type.DIED).findFirst().orElseThrow();
    assertTrue(died.status().orElseThrow().killedBy(9), died.toString());
  }

  @Test
  void adoptsThroughForkServerRetryingUntilItListens() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    Path sock = dir.resolve("fork.sock");
    emperor = Emperor.builder().vassalDirectory(vassalDir("app1.ini", "app2.ini")).binaryPath(bin.toString())
        .forkServerSocket(sock).reloadMercy(Duration.ofSeconds(5)).build();
    Map<String, Long> fdsBefore = ownKindsOfFds();
    emperor.startAsync().awaitRunning();
    Thread.sleep(500); // the socket does not exist yet: the Emperor must keep retrying
    assertTrue(emperor.vassals().stream().allMatch(v -> v.state() == VassalState.ADOPTING && v.adopted()));
    List<Integer> pids;
    try (FakeForkServer fs = new FakeForkServer(sock)) {
      await("both adopted and accepting", Duration.ofSeconds(10),
          () -> emperor.vassals().stream().allMatch(VassalView::accepting));
      pids = emperor.vassals().stream().map(VassalView::pid).collect(Collectors.toCollection(ArrayList::new));
      assertEquals(2, fs.requests.size());
      for (var req : fs.requests) {
        assertEquals(0x01, req.mask());
        assertEquals(bin.toString(), req.argv().get(0));
        assertEquals("--ini", req.argv().get(1));
        assertTrue(req.argv().get(2).startsWith(dir.toString() + "/vassals/app"), req.argv().toString());
      }
      emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    }
    for (int pid : pids) {
      assertTrue(ProcFs.stat(pid).isEmpty(), "pid " + pid + " is gone");
    }
    assertEquals(fdsBefore, ownKindsOfFds(), "no descriptor leaked by adoption");
  }

  @Test
  void oneLoopThreadWhateverTheNumberOfVassals() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    emperor = Emperor.builder().vassalDirectory(vassalDir("1.ini", "2.ini", "3.ini", "4.ini", "5.ini", "6.ini"))
        .binaryPath(bin.toString()).build();
    emperor.startAsync().awaitRunning();
    await("six accepting", Duration.ofSeconds(10), () -> emperor.vassals().stream().filter(VassalView::accepting).count() == 6);
    List<String> created = Thread.getAllStackTraces().keySet().stream().filter(t -> !before.contains(t))
        .map(Thread::getName).toList();
    assertEquals(List.of("Emperor"), created, "the only thread serving six vassals is the loop");
  }

  @Test
  void reapsOrphansOfVassalsButLeavesJdkChildrenAlone() throws Exception {
    Path orphanPidFile = dir.resolve("orphan.pid");
    // the vassal leaves a child behind; killing the vassal re-parents that child to the JVM
    Path bin = script("parent", "#!/bin/sh\nsleep 0.5 &\necho $! > " + orphanPidFile + "\n"
        + WELL_BEHAVED.substring(WELL_BEHAVED.indexOf('\n') + 1));
    emperor = Emperor.builder().vassalDirectory(vassalDir("p.ini")).binaryPath(bin.toString())
        .orphanScanInterval(Duration.ofMillis(100)).respawnDelay(Duration.ofSeconds(30)).build();
    emperor.startAsync().awaitRunning();
    await("accepting", Duration.ofSeconds(10), () -> emperor.vassal("p.ini").map(VassalView::accepting).orElse(false));
    int orphan = Integer.parseInt(Files.readString(orphanPidFile).trim());
    Process jdkChild = new ProcessBuilder("/bin/sh", "-c", "sleep 1; exit 5").start();

    io.psgivassal.emperor.natives.Signals.kill(emperor.vassal("p.ini").orElseThrow().pid(), 9);
    await("orphan re-parented to the JVM", Duration.ofSeconds(5), () -> ProcFs.stat(orphan)
        .map(st -> st.ppid() == ProcessHandle.current().pid()).orElse(true));
    await("orphan reaped, not left a zombie", Duration.ofSeconds(5), () -> ProcFs.stat(orphan).isEmpty());
    assertEquals(5, jdkChild.waitFor(), "the JDK still collects its own child's status");
  }
}
