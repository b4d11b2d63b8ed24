package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.util.concurrent.MoreExecutors;
import io.psgivassal.emperor.api.BlacklistEntry;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalListener;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.LogCapture;
import io.psgivassal.emperor.testing.Events;
import io.psgivassal.emperor.testing.Ports;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Emperor's rules against script vassals (plain spawns) and a Java fake fork server: fast and
 * exact about what goes over the pipes. EmperorLifecycleIT checks the same rules with psgi-vassal.
 */
class EmperorTest {
  /** Reports ready + accepting, then waits for any byte (or EOF) from the Emperor and exits. */
  static final String WELL_BEHAVED = "#!/bin/sh\nprintf '\\001\\005' >&3\nhead -c1 <&3 >/dev/null\nexit 0\n";
  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  private Emperor emperor;
  private final Events events = new Events();

  @AfterEach
  void stopEmperor() throws Exception {
    if (emperor != null && emperor.isRunning()) {
      emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    }
  }

  private Path script(String name, String text) throws Exception {
    Path p = dir.resolve(name);
    Files.writeString(p, text);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }

  private Path vassalDir(String... inis) throws Exception {
    Path vd = Files.createDirectories(dir.resolve("vassals"));
    for (String ini : inis) {
      Files.writeString(vd.resolve(ini), "[uwsgi]\nhttp-socket = :9" + ini.length() + "\n");
    }
    Files.writeString(vd.resolve("ignored.txt"), "not a vassal");
    return vd;
  }

  private Emperor start(Emperor.Builder b) throws java.util.concurrent.TimeoutException {
    emperor = b.build();
    emperor.addListener(events, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning(20, TimeUnit.SECONDS);
    return emperor;
  }

  private VassalView view(String name) {
    return emperor.vassal(name).orElseThrow(() -> new AssertionError(name + " not in " + emperor.vassals()));
  }

  private BooleanSupplier state(String name, VassalState s) {
    return () -> emperor.vassal(name).map(v -> v.state() == s).orElse(false);
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

  /** Kept for the ITs written against the spine. */
  static void await(String what, Duration max, BooleanSupplier cond) throws InterruptedException {
    Await.until(what, max, cond);
  }

  @Test
  void spawnsBaseVassalsTracksStatesAndStopsThem() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    Map<String, Long> fdsBefore = ownKindsOfFds();
    start(Emperor.builder().vassalDirectory(vassalDir("a.ini", "b.ini")).binaryPath(bin.toString())
        .reloadMercy(Duration.ofSeconds(5)));
    Await.until("both accepting", WAIT,
        () -> emperor.vassals().size() == 2 && emperor.vassals().stream().allMatch(VassalView::accepting));

    List<VassalView> views = emperor.vassals();
    assertEquals(Set.of("a.ini", "b.ini"), views.stream().map(VassalView::name).collect(Collectors.toSet()));
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
    assertEquals(List.of(VassalEvent.Type.SPAWNED, VassalEvent.Type.READY, VassalEvent.Type.ACCEPTING,
        VassalEvent.Type.CURSED, VassalEvent.Type.DIED), events.typesOf("a.ini"));
    VassalEvent died = events.of("a.ini", VassalEvent.Type.DIED).get(0);
    assertTrue(died.status().orElseThrow().exitedWith(0), died.toString());
    assertEquals("the Emperor is stopping: sent 0 (stop)", events.of("a.ini", VassalEvent.Type.CURSED).get(0).detail());
  }

  @Test
  void aVassalThatDiesBeforeItIsLoyalIsBlacklistedThenRespawned() throws Exception {
    // the first run exits 3 at once; later runs behave
    Path marker = dir.resolve("ran-once");
    Path bin = script("flaky", "#!/bin/sh\nif [ ! -e " + marker + " ]; then touch " + marker + "; exit 3; fi\n"
        + WELL_BEHAVED.substring(WELL_BEHAVED.indexOf('\n') + 1));
    start(Emperor.builder().vassalDirectory(vassalDir("x.ini")).binaryPath(bin.toString())
        .throttle(Duration.ofMillis(200)).reloadMercy(Duration.ofSeconds(5)));
    Await.until("respawned and accepting", WAIT,
        () -> emperor.vassal("x.ini").map(v -> v.accepting() && v.respawns() == 1).orElse(false));
    assertTrue(events.of("x.ini", VassalEvent.Type.DIED).get(0).status().orElseThrow().exitedWith(3));
    VassalEvent bl = events.of("x.ini", VassalEvent.Type.BLACKLISTED).get(0);
    assertEquals(Duration.ofMillis(200), bl.throttle().orElseThrow());
    assertEquals(1, events.count("x.ini", VassalEvent.Type.RESPAWNED));
    assertTrue(view("x.ini").blacklisted(), "still blacklisted: it was never loyal");
  }

  @Test
  void theThrottleGrowsUpToTheMaximumAndLoyaltyEndsIt() throws Exception {
    Path good = dir.resolve("good");
    Path bin = script("crasher", "#!/bin/sh\nif [ ! -e " + good + " ]; then exit 1; fi\n"
        + "printf '\\001\\005\\021' >&3\nhead -c1 <&3 >/dev/null\n");
    start(Emperor.builder().vassalDirectory(vassalDir("c.ini")).binaryPath(bin.toString())
        .throttle(Duration.ofMillis(100)).maxThrottle(Duration.ofMillis(250)));
    events.await("c.ini", VassalEvent.Type.BLACKLISTED, 4, WAIT);
    List<Long> throttles = events.of("c.ini", VassalEvent.Type.BLACKLISTED).stream().limit(4)
        .map(e -> e.throttle().orElseThrow().toMillis()).toList();
    assertEquals(List.of(100L, 200L, 250L, 250L), throttles);
    BlacklistEntry entry = emperor.blacklist().get(0);
    assertEquals("c.ini", entry.vassal());
    assertTrue(entry.attempt() >= 4);

    Files.createFile(good);
    Await.until("loyal", WAIT, () -> emperor.vassal("c.ini").map(VassalView::loyal).orElse(false));
    Await.until("off the blacklist", WAIT, () -> emperor.blacklist().isEmpty() && !view("c.ini").blacklisted());
  }

  @Test
  void aChangedConfigIsReloadedAndThatIsNoFailure() throws Exception {
    // like an adopted vassal: exits on byte 1, never loyal
    Path bin = script("reloader", WELL_BEHAVED);
    Path vd = vassalDir("r.ini");
    start(Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).rescanInterval(Duration.ofMillis(200)));
    Await.until("accepting", WAIT, () -> emperor.vassal("r.ini").map(VassalView::accepting).orElse(false));
    int first = view("r.ini").pid();
    Files.setLastModifiedTime(vd.resolve("r.ini"), FileTime.from(Instant.now().plusSeconds(10)));
    events.await("r.ini", VassalEvent.Type.RESPAWNED, 1, WAIT);
    Await.until("accepting again", WAIT, () -> emperor.vassal("r.ini").map(VassalView::accepting).orElse(false));
    assertNotEquals(first, view("r.ini").pid());
    assertEquals(1, events.count("r.ini", VassalEvent.Type.RELOAD_SENT));
    assertEquals(0, events.count("r.ini", VassalEvent.Type.BLACKLISTED), "a reload is not a failure");
    assertEquals(1, view("r.ini").respawns());
    assertTrue(emperor.blacklist().isEmpty());
  }

  @Test
  void anIdleVassalIsStoppedUntilItsConfigChanges() throws Exception {
    Path bin = script("idle", "#!/bin/sh\nprintf '\\001\\026' >&3\nhead -c1 <&3 >/dev/null\nexit 0\n");
    Path vd = vassalDir("i.ini");
    start(Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).rescanInterval(Duration.ofMillis(200)));
    Await.until("idle", WAIT, state("i.ini", VassalState.IDLE));
    Thread.sleep(400);
    assertEquals(VassalState.IDLE, view("i.ini").state());
    assertEquals(1, events.count("i.ini", VassalEvent.Type.SPAWNED));
    Files.setLastModifiedTime(vd.resolve("i.ini"), FileTime.from(Instant.now().plusSeconds(10)));
    events.await("i.ini", VassalEvent.Type.SPAWNED, 2, WAIT);
  }

  @Test
  void aRemovedConfigStopsItsVassalGracefullyWhenAskedAndForgetsIt() throws Exception {
    Path got = dir.resolve("got");
    Path bin = script("recorder", "#!/bin/sh\nprintf '\\001\\005' >&3\nhead -c1 <&3 | od -An -tu1 > " + got + "\n");
    Path vd = vassalDir("gone.ini", "stays.ini");
    start(Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).gracefulShutdown(true)
        .rescanInterval(Duration.ofMillis(200)));
    Await.until("accepting", WAIT, () -> emperor.vassals().stream().filter(VassalView::accepting).count() == 2);
    int pid = view("gone.ini").pid();
    Files.delete(vd.resolve("gone.ini"));
    events.await("gone.ini", VassalEvent.Type.REMOVED, 1, WAIT);
    assertTrue(emperor.vassal("gone.ini").isEmpty());
    assertEquals("2", Files.readString(got).strip(), "byte 2, graceful stop");
    assertTrue(ProcFs.stat(pid).isEmpty());
    assertEquals(List.of(VassalEvent.Type.SPAWNED, VassalEvent.Type.READY, VassalEvent.Type.ACCEPTING,
        VassalEvent.Type.CURSED, VassalEvent.Type.DIED, VassalEvent.Type.REMOVED), events.typesOf("gone.ini"));
    assertTrue(view("stays.ini").accepting());
  }

  @Test
  void stubbornVassalIsKilledAfterReloadMercy() throws Exception {
    // ignores the stop byte and keeps running: only SIGKILL ends it
    Path bin = script("stubborn", "#!/bin/sh\nprintf '\\001' >&3\nexec sleep 60\n");
    start(Emperor.builder().vassalDirectory(vassalDir("s.ini")).binaryPath(bin.toString())
        .reloadMercy(Duration.ofMillis(500)));
    Await.until("ready", WAIT, () -> emperor.vassal("s.ini").map(VassalView::ready).orElse(false));
    int pid = view("s.ini").pid();
    long t0 = System.nanoTime();
    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    assertTrue(System.nanoTime() - t0 >= 400_000_000L);
    assertTrue(ProcFs.stat(pid).isEmpty());
    assertTrue(events.of("s.ini", VassalEvent.Type.DIED).get(0).status().orElseThrow().killedBy(9));
  }

  @Test
  void aSilentVassalIsKilledAfterTheHeartbeatTimeoutAndRespawned() throws Exception {
    // three heartbeats, then silence (still alive, pipe open)
    Path bin = script("beater", "#!/bin/sh\nprintf '\\001\\005\\021' >&3\n"
        + "for i in 1 2 3; do printf '\\032' >&3; sleep 0.2; done\nexec sleep 60\n");
    start(Emperor.builder().vassalDirectory(vassalDir("h.ini")).binaryPath(bin.toString())
        .heartbeat(Duration.ofSeconds(1)).reloadMercy(Duration.ofSeconds(1)));
    events.await("h.ini", VassalEvent.Type.HEARTBEAT_MISSED, 1, WAIT);
    VassalEvent died = events.await("h.ini", VassalEvent.Type.DIED, 1, WAIT);
    assertTrue(died.status().orElseThrow().killedBy(Signals.SIGKILL), died.toString());
    events.await("h.ini", VassalEvent.Type.RESPAWNED, 1, WAIT);
    assertEquals(0, events.count("h.ini", VassalEvent.Type.BLACKLISTED), "it had been loyal");
  }

  @Test
  void aVassalThatNeverBeatsIsNeverKilledForIt() throws Exception {
    Path bin = script("quiet", WELL_BEHAVED);
    start(Emperor.builder().vassalDirectory(vassalDir("q.ini")).binaryPath(bin.toString())
        .heartbeat(Duration.ofMillis(300)));
    Await.until("accepting", WAIT, () -> emperor.vassal("q.ini").map(VassalView::accepting).orElse(false));
    Thread.sleep(1200);
    assertEquals(0, events.count("q.ini", VassalEvent.Type.HEARTBEAT_MISSED));
    assertEquals(1, events.count("q.ini", VassalEvent.Type.SPAWNED));
  }

  @Test
  void adoptsThroughForkServerRetryingUntilItListens() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    Path sock = dir.resolve("fork.sock");
    Map<String, Long> fdsBefore = ownKindsOfFds();
    start(Emperor.builder().vassalDirectory(vassalDir("app1.ini", "app2.ini")).binaryPath(bin.toString())
        .forkServerSocket(sock).reloadMercy(Duration.ofSeconds(5)).holdSockets(false)); // mask 0x01 as uWSGI sends it
    Thread.sleep(500); // the socket does not exist yet: the Emperor must keep retrying
    assertTrue(emperor.vassals().stream().allMatch(v -> v.state() == VassalState.ADOPTING && v.adopted()));
    List<Integer> pids;
    try (FakeForkServer fs = new FakeForkServer(sock)) {
      Await.until("both adopted and accepting", WAIT, () -> emperor.vassals().stream().allMatch(VassalView::accepting));
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

  /**
   * Every start meets a fork server that is not up yet (its base still loads): that is said
   * calmly, once; only a fork server silent for longer than the base's load may take is warned
   * about; its first answer is noted.
   */
  @Test
  void aForkServerNotUpYetIsWaitedForCalmlyAndWarnedAboutOnlyWhenItLasts() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    Path sock = dir.resolve("fork.sock");
    Duration quiet = ForkServerQueue.quietWhileLoading;
    ForkServerQueue.quietWhileLoading = Duration.ofMillis(1500);
    try (LogCapture logs = LogCapture.start()) {
      start(Emperor.builder().vassalDirectory(vassalDir("app1.ini")).binaryPath(bin.toString())
          .forkServerSocket(sock).reloadMercy(Duration.ofSeconds(5)).holdSockets(false)
          .retryBackoff(Duration.ofMillis(50), Duration.ofMillis(100)));
      Await.until("the first probe", WAIT, () -> !logs.lines("fork server " + sock).isEmpty());
      Thread.sleep(700); // several more probes fail meanwhile, within the quiet time
      assertEquals(1, logs.lines("INFO", "fork server " + sock + ": waiting for").size(), logs.lines("fork server").toString());
      assertEquals(List.of(), logs.lines("WARN", "fork server"), "no warning while the base may still load");
      Await.until("a warning once it lasts", WAIT, () -> !logs.lines("WARN", "fork server " + sock + " has not answered").isEmpty());
      assertTrue(logs.lines("WARN", "has not answered").get(0).contains("1 adoption(s) wait for it"));
      try (FakeForkServer fs = new FakeForkServer(sock)) {
        Await.until("adopted and accepting", WAIT, () -> emperor.vassals().stream().allMatch(VassalView::accepting));
        assertEquals(1, logs.lines("INFO", "fork server " + sock + " answers, after").size());
        assertEquals(1, logs.lines("WARN", "fork server").size(), "warned once");
        emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
      }
    } finally {
      ForkServerQueue.quietWhileLoading = quiet;
    }
  }

  @Test
  void aForkServerPidReplyNamingAProcessThatIsNotItsAdoptionIsRefusedAndThatProcessIsNeverSignalled()
      throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    // another session (a child of the JVM, so only the session gives it away)
    Process otherSession = new ProcessBuilder("setsid", "sleep", "120").start();
    // the fork server's session, but never re-parented to the Emperor (its parent sh waits for it)
    Process parent = new ProcessBuilder("sh", "-c", "sleep 120 >/dev/null & echo $!; wait").start();
    int notReparented = Integer.parseInt(new java.io.BufferedReader(new java.io.InputStreamReader(
        parent.getInputStream(), StandardCharsets.US_ASCII)).readLine().trim());
    List<Integer> victims = List.of((int) otherSession.pid(), notReparented);
    try {
      for (int victim : victims) {
        Path sock = dir.resolve("fork-" + victim + ".sock");
        try (FakeForkServer fs = new FakeForkServer(sock, realPid -> victim)) {
          start(Emperor.builder().vassalDirectory(vassalDir("app1.ini")).binaryPath(bin.toString())
              .forkServerSocket(sock).reloadMercy(Duration.ofSeconds(2)));
          Await.until("two adoptions asked for", WAIT, () -> fs.requests.size() >= 2);
          assertEquals(VassalState.ADOPTING, view("app1.ini").state(), "pid " + victim + " was not attached");
          assertEquals(0, events.count("app1.ini", VassalEvent.Type.SPAWNED));
          emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
        }
        assertTrue(ProcFs.stat(victim).map(st -> !st.zombie()).orElse(false),
            "pid " + victim + " is alive after the Emperor stopped");
      }
    } finally {
      otherSession.destroyForcibly();
      Signals.kill(notReparented, Signals.SIGKILL);
      parent.waitFor(10, TimeUnit.SECONDS);
      otherSession.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aTextConfigTravelsOverTheConfigPipeAndIsSentAgainOnByte2() throws Exception {
    Path out = dir.resolve("configs");
    // reads a config packet, asks for it again (2), reads it again; exits on byte 1 (like an adopted vassal)
    Path bin = script("pipe-reader", "#!/usr/bin/perl\nuse strict;\n"
        + "open(my $cfg, '<&=', $ENV{UWSGI_EMPEROR_FD_CONFIG}) or die 'no config pipe';\n"
        + "open(my $emp, '+<&=', $ENV{UWSGI_EMPEROR_FD}) or die;\n"
        + "sub packet { sysread($cfg, my $h, 4) == 4 or die; my ($m1, $n) = unpack('C v', $h);"
        + " my $b = ''; while (length $b < $n) { sysread($cfg, $b, $n - length $b, length $b) or die } return \"$m1:$b\" }\n"
        + "open(my $o, '>>', '" + out + "'); syswrite($o, \"@ARGV|\" . packet() . \"\\n\");\n"
        + "syswrite($emp, \"\\x02\"); syswrite($o, packet() . \"\\n\"); close $o;\n"
        + "syswrite($emp, \"\\x01\\x05\"); sysread($emp, my $b, 1); exit 0;\n");
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    api.add(VassalSpec.ofText("t.ini", "[uwsgi]\nanswer = 42\n").withStart(new VassalSpec.Plain()));
    start(Emperor.builder().monitor(api).binaryPath(bin.toString()));
    Await.until("accepting", WAIT, () -> emperor.vassal("t.ini").map(VassalView::accepting).orElse(false));
    assertEquals("--ini emperor://t.ini|115:[uwsgi]\nanswer = 42\n\n115:[uwsgi]\nanswer = 42\n\n", Files.readString(out));
    assertTrue(view("t.ini").configPath().isEmpty());

    api.update(VassalSpec.ofText("t.ini", "[uwsgi]\nanswer = 43\n").withStart(new VassalSpec.Plain()));
    events.await("t.ini", VassalEvent.Type.RELOAD_SENT, 1, WAIT);
    events.await("t.ini", VassalEvent.Type.RESPAWNED, 1, WAIT);
    Await.until("accepting again", WAIT, () -> emperor.vassal("t.ini").map(VassalView::accepting).orElse(false));
    assertTrue(Files.readString(out).endsWith("--ini emperor://t.ini|115:[uwsgi]\nanswer = 43\n\n115:[uwsgi]\nanswer = 43\n\n"),
        Files.readString(out));
    assertTrue(api.remove("t.ini"));
    events.await("t.ini", VassalEvent.Type.REMOVED, 1, WAIT);
  }

  @Test
  void anOnDemandVassalGetsTheSocketAtFd0AndGoesBackToWaitingWhenIdle() throws Exception {
    Path out = dir.resolve("fd0");
    // serves one connection on the inherited socket, then says loyal and idle (17, 22)
    Path bin = script("od-vassal", "#!/usr/bin/perl\nuse strict; use Socket;\n"
        + "open(my $o, '>>', '" + out + "'); print $o readlink('/proc/self/fd/0'), \"\\n\"; close $o;\n"
        + "open(my $emp, '+<&=', 3) or die; syswrite($emp, \"\\x01\\x05\");\n"
        + "open(my $l, '<&=', 0) or die; accept(my $c, $l) or die \"accept: $!\"; syswrite($c, \"pid $$\\n\"); close $c;\n"
        + "syswrite($emp, \"\\x11\\x16\"); sysread($emp, my $b, 1); exit 0;\n");
    int port = Ports.free();
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    api.add(VassalSpec.ofText("od.ini", "[uwsgi]\n").withStart(new VassalSpec.Plain()).withOnDemand("127.0.0.1:" + port));
    start(Emperor.builder().monitor(api).binaryPath(bin.toString()).reloadMercy(Duration.ofSeconds(2)));
    Await.until("waiting on its socket", WAIT, state("od.ini", VassalState.ON_DEMAND));
    assertEquals(0, view("od.ini").pid());
    assertEquals(0, events.count("od.ini", VassalEvent.Type.SPAWNED), "nothing runs before a connection");

    String first = readLine(port);
    events.await("od.ini", VassalEvent.Type.DIED, 1, WAIT);
    Await.until("back to waiting", WAIT, state("od.ini", VassalState.ON_DEMAND));
    String second = readLine(port);
    assertNotEquals(first, second, "a second process served the second connection");
    assertTrue(Files.readString(out).startsWith("socket:["), Files.readString(out));
    assertEquals(0, events.count("od.ini", VassalEvent.Type.BLACKLISTED));
  }

  private static String readLine(int port) throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(20_000);
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }
  }

  @Test
  void onlyTheLoopThreadServesVassals() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    for (int i = 1; i <= 6; i++) {
      api.add(VassalSpec.ofText(i + ".ini", "").withStart(new VassalSpec.Plain()));
    }
    Set<Thread> before = Thread.getAllStackTraces().keySet();
    start(Emperor.builder().monitor(api).binaryPath(bin.toString()));
    Await.until("six accepting", WAIT, () -> emperor.vassals().stream().filter(VassalView::accepting).count() == 6);
    Set<String> created = Thread.getAllStackTraces().keySet().stream().filter(t -> !before.contains(t))
        .map(Thread::getName).filter(n -> !n.startsWith("process reaper") && !n.equals("JNA Cleaner"))
        .collect(Collectors.toSet());
    // the events thread serves no vassal: it hands their events to the test's directExecutor listener
    assertEquals(Set.of("Emperor", "emperor-events"), created, "the only thread serving six vassals is the loop");
  }

  private Emperor startWithListeners(Emperor.Builder b, VassalListener... first) throws Exception {
    emperor = b.build();
    for (VassalListener l : first) {
      emperor.addListener(l, MoreExecutors.directExecutor());
    }
    emperor.addListener(events, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning(20, TimeUnit.SECONDS);
    return emperor;
  }

  private ProgrammaticMonitor oneTextVassal(String name) {
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    api.add(VassalSpec.ofText(name, "").withStart(new VassalSpec.Plain()));
    return api;
  }

  @Test
  void aListenerThatThrowsAnErrorStopsNeitherTheEmperorNorTheOtherListeners() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    java.util.concurrent.atomic.AtomicInteger thrown = new java.util.concurrent.atomic.AtomicInteger();
    startWithListeners(Emperor.builder().monitor(oneTextVassal("e.ini")).binaryPath(bin.toString()), event -> {
      thrown.incrementAndGet();
      throw new AssertionError("a listener's bug");
    });
    Await.until("accepting", WAIT, () -> emperor.vassal("e.ini").map(VassalView::accepting).orElse(false));
    Signals.kill(view("e.ini").pid(), Signals.SIGKILL);
    events.await("e.ini", VassalEvent.Type.RESPAWNED, 1, WAIT); // still supervised, and the other listener hears of it
    Await.until("accepting again", WAIT, () -> emperor.vassal("e.ini").map(v -> v.accepting() && v.respawns() == 1)
        .orElse(false));
    assertTrue(emperor.isRunning(), emperor.state().toString());
    Await.until("the thrower got every event too", WAIT, () -> thrown.get() == events.all().size());
  }

  @Test
  void aListenerOnTheDirectExecutorThatBlocksDoesNotHoldUpTheLoop() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    startWithListeners(Emperor.builder().monitor(oneTextVassal("b.ini")).binaryPath(bin.toString()), event -> {
      try {
        release.await(30, TimeUnit.SECONDS); // a slow listener: blocks on the first event
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    try {
      Await.until("accepting while the listener blocks", WAIT,
          () -> emperor.vassal("b.ini").map(VassalView::accepting).orElse(false));
      assertEquals(1, release.getCount(), "the listener was still blocked");
      assertEquals(List.of(), events.all(), "the events thread is the blocked listener's: later ones wait");
    } finally {
      release.countDown();
    }
    events.await("b.ini", VassalEvent.Type.ACCEPTING, 1, WAIT);
    assertEquals(List.of(VassalEvent.Type.SPAWNED, VassalEvent.Type.READY, VassalEvent.Type.ACCEPTING),
        events.typesOf("b.ini"), "in order");
  }

  @Test
  void aListenerThatStopsTheEmperorAndWaitsForItDoesNotDeadlock() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    java.util.concurrent.CompletableFuture<com.google.common.util.concurrent.Service.State> seen =
        new java.util.concurrent.CompletableFuture<>();
    startWithListeners(Emperor.builder().monitor(oneTextVassal("s.ini")).binaryPath(bin.toString()), event -> {
      if (event.type() == VassalEvent.Type.ACCEPTING) {
        emperor.stopAsync().awaitTerminated();
        seen.complete(emperor.state());
      }
    });
    emperor.awaitTerminated(20, TimeUnit.SECONDS);
    assertEquals(com.google.common.util.concurrent.Service.State.TERMINATED, seen.get(20, TimeUnit.SECONDS));
    events.await("s.ini", VassalEvent.Type.DIED, 1, WAIT); // delivered after the listener returned
  }

  @Test
  void reapsOrphansOfVassalsButLeavesJdkChildrenAlone() throws Exception {
    Path orphanPidFile = dir.resolve("orphan.pid");
    // the vassal leaves a child behind; killing the vassal re-parents that child to the JVM
    Path bin = script("parent", "#!/bin/sh\nsleep 0.5 &\necho $! > " + orphanPidFile + "\n"
        + WELL_BEHAVED.substring(WELL_BEHAVED.indexOf('\n') + 1));
    start(Emperor.builder().vassalDirectory(vassalDir("p.ini")).binaryPath(bin.toString())
        .orphanScanInterval(Duration.ofMillis(100)).throttle(Duration.ofSeconds(30)));
    Await.until("accepting", WAIT, () -> emperor.vassal("p.ini").map(VassalView::accepting).orElse(false));
    int orphan = Integer.parseInt(Files.readString(orphanPidFile).trim());
    Process jdkChild = new ProcessBuilder("/bin/sh", "-c", "sleep 1; exit 5").start();

    Signals.kill(view("p.ini").pid(), 9);
    Await.until("orphan re-parented to the JVM", WAIT, () -> ProcFs.stat(orphan)
        .map(st -> st.ppid() == ProcessHandle.current().pid()).orElse(true));
    Await.until("orphan reaped, not left a zombie", WAIT, () -> ProcFs.stat(orphan).isEmpty());
    assertEquals(5, jdkChild.waitFor(), "the JDK still collects its own child's status");
  }

  @Test
  void statsServeOneJsonDocumentPerConnectionOverTcpAndUnix() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    api.add(VassalSpec.ofText("s1.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:9999\n").withStart(new VassalSpec.Plain())
        .withAttributes(Map.of("team", "blue \"quoted\"\n")));
    Path unix = dir.resolve("stats.sock");
    start(Emperor.builder().monitor(api).binaryPath(bin.toString()).stats("127.0.0.1:0"));
    Await.until("accepting", WAIT, () -> emperor.vassal("s1.ini").map(VassalView::accepting).orElse(false));
    JsonNode doc = new ObjectMapper().readTree(readAll(emperor.statsPort().getAsInt()));
    for (String f : List.of("version", "pid", "uid", "gid", "cwd", "emperor", "emperor_tyrant", "throttle_level",
        "vassals", "blacklist")) {
      assertTrue(doc.has(f), "top-level " + f);
    }
    assertEquals(ProcessHandle.current().pid(), doc.get("pid").asLong());
    assertEquals("api", doc.get("emperor").get(0).asText());
    JsonNode v = doc.get("vassals").get(0);
    for (String f : List.of("id", "pid", "born", "last_mod", "last_heartbeat", "loyal", "ready", "accepting",
        "last_loyal", "last_ready", "last_accepting", "first_run", "last_run", "cursed", "zerg", "on_demand",
        "suspended", "adopted", "uid", "gid", "monitor", "respawns")) {
      assertTrue(v.has(f), "vassal field " + f);
    }
    assertEquals("s1.ini", v.get("id").asText());
    assertEquals(view("s1.ini").pid(), v.get("pid").asInt());
    assertEquals(1, v.get("accepting").asInt());
    assertEquals("blue \"quoted\"\n", v.get("attrs").get("team").asText());
    assertEquals("accepting", v.get("state").asText());
    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);

    emperor = null;
    start(Emperor.builder().monitor(new ProgrammaticMonitor("none")).binaryPath(bin.toString()).stats(unix.toString()));
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(unix));
      try (InputStream in = Channels.newInputStream(ch)) {
        JsonNode d = new ObjectMapper().readTree(in.readAllBytes());
        assertEquals(0, d.get("vassals").size());
        assertEquals(1, d.get("throttle_level").asInt());
      }
    }
    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    assertFalse(Files.exists(unix), "stats socket file removed");
  }

  @Test
  void theStatsPortIsEmptyOnceTheEmperorStopped() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    start(Emperor.builder().monitor(new ProgrammaticMonitor("none")).binaryPath(bin.toString()).stats("127.0.0.1:0"));
    int port = emperor.statsPort().orElseThrow();
    assertTrue(port > 0);
    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    // its descriptor is closed, and its number may be anybody's now: nothing is asked of it
    assertEquals(java.util.OptionalInt.empty(), emperor.statsPort());
  }

  @Test
  void aHookThatIgnoresSigtermIsKilledWithItsChildAtTheTimeoutAndHoldsUpNeitherItsVassalNorTheStop() throws Exception {
    Path bin = script("fake-vassal", WELL_BEHAVED);
    Path hook = script("stubborn-hook", "#!/bin/sh\necho $$ > " + dir + "/hook-$1.pid\ntrap '' TERM\nsleep 40\n");
    ProgrammaticMonitor api = oneTextVassal("h1.ini");
    start(Emperor.builder().monitor(api).binaryPath(bin.toString()).startHook(hook.toString())
        .hookTimeout(Duration.ofSeconds(1)).reloadMercy(Duration.ofSeconds(5)));
    List<Integer> first = hookAndChild("h1.ini");
    Await.until("h1.ini accepting once its hook was killed", WAIT,
        () -> emperor.vassal("h1.ini").map(VassalView::accepting).orElse(false));
    assertTrue(first.stream().noneMatch(pid -> ProcFs.stat(pid).map(st -> !st.zombie()).orElse(false)), "the hook and its sleep were killed: " + first);

    api.add(VassalSpec.ofText("h2.ini", "").withStart(new VassalSpec.Plain()));
    List<Integer> second = hookAndChild("h2.ini");
    long t0 = System.nanoTime();
    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS);
    long stopMillis = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(stopMillis < 3000, "the stop waited " + stopMillis + " ms for a hook with a 1 s timeout");
    for (int pid : List.of(first.get(0), first.get(1), second.get(0), second.get(1))) {
      assertTrue(ProcFs.stat(pid).isEmpty(), "pid " + pid + " of a hook is gone, not even a zombie");
    }
  }

  /** The pids of the start hook of {@code vassal} and of its child (the sleep), once both run. */
  private List<Integer> hookAndChild(String vassal) throws Exception {
    Path pidFile = dir.resolve("hook-" + vassal + ".pid");
    Await.until("the start hook of " + vassal + " runs", WAIT, () -> {
      try {
        return Files.readString(pidFile).endsWith("\n");
      } catch (java.io.IOException notYet) {
        return false;
      }
    });
    int hook = Integer.parseInt(Files.readString(pidFile).trim());
    Await.until("the hook's child sleeps", WAIT, () -> !ProcFs.children(hook).isEmpty());
    return List.of(hook, ProcFs.children(hook).iterator().next());
  }

  private static byte[] readAll(int port) throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(20_000);
      // an HTTP client would send a request first: that must not cut the document short
      s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      return s.getInputStream().readAllBytes();
    }
  }
}
