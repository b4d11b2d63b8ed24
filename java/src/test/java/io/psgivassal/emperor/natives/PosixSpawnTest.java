package io.psgivassal.emperor.natives;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PosixSpawnTest {
  /** Waits (polling the pidfd, as the Emperor's loop would) until the child is reaped. */
  static ExitStatus awaitExit(int pidfd, int pid, Duration max) throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    try (Epoll ep = Epoll.create(4)) {
      ep.add(pidfd, Epoll.EPOLLIN, pidfd);
      while (System.nanoTime() < deadline) {
        ep.await(100);
        Optional<ExitStatus> st = PidFds.waitNoHang(pidfd, pid);
        if (st.isPresent()) {
          return st.get();
        }
      }
    }
    throw new AssertionError("pid " + pid + " did not exit within " + max);
  }

  static String readAll(int fd) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[4096];
    int n;
    while ((n = FileDescriptors.read(fd, buf, buf.length)) > 0) {
      out.write(buf, 0, n);
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  /** Runs argv with its stdout (and the given extra descriptors) on a socket; returns the output. */
  static String capture(List<String> argv, Map<String, String> env, Map<Integer, Integer> extra) throws Exception {
    int[] out = UnixSockets.socketPair();
    int pidfd = -1;
    try {
      Map<Integer, Integer> inherit = new java.util.HashMap<>(extra);
      inherit.put(1, out[1]);
      int pid = PosixSpawn.spawn(new PosixSpawn.Request(argv.get(0), argv, env, inherit));
      pidfd = PidFds.open(pid);
      FileDescriptors.close(out[1]);
      out[1] = -1;
      String text = readAll(out[0]);
      ExitStatus st = awaitExit(pidfd, pid, Duration.ofSeconds(10));
      assertTrue(st.exitedWith(0), argv + ": " + st);
      return text;
    } finally {
      FileDescriptors.closeQuietly(pidfd);
      FileDescriptors.closeQuietly(out[0]);
      FileDescriptors.closeQuietly(out[1]);
    }
  }

  static java.util.Set<Integer> fdSet(String lsOutput) {
    return java.util.Arrays.stream(lsOutput.trim().split("\\s+")).map(Integer::parseInt)
        .collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
  }

  @Test
  void childGetsExactlyFd3PlusStdioAndNothingElse() throws Exception {
    int[] pipe = UnixSockets.socketPair();
    int[] stray = UnixSockets.socketPair(); // open in the JVM, must not reach the child
    try {
      // ls lists its own descriptors: 0-3 as placed, plus the one it opened on /proc/self/fd
      String fds = capture(List.of("/bin/ls", "-1", "/proc/self/fd"), Map.of(), Map.of(3, pipe[1]));
      assertEquals(java.util.Set.of(0, 1, 2, 3, 4), fdSet(fds), fds);
      String link = capture(List.of("/usr/bin/readlink", "/proc/self/fd/3"), Map.of(), Map.of(3, pipe[1])).trim();
      assertEquals(java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + pipe[1])).toString(), link);
    } finally {
      for (int fd : new int[] {pipe[0], pipe[1], stray[0], stray[1]}) {
        FileDescriptors.closeQuietly(fd);
      }
    }
  }

  @Test
  void childHasGivenEnvironmentOwnSessionAndDefaultSignals() throws Exception {
    String env = capture(List.of("/usr/bin/env"), Map.of("UWSGI_EMPEROR_FD", "3"), Map.of());
    assertEquals("UWSGI_EMPEROR_FD=3", env.trim());

    String stat = capture(List.of("/bin/cat", "/proc/self/stat"), Map.of(), Map.of());
    ProcFs.Stat st = ProcFs.parseStat(stat);
    assertEquals(st.pid(), st.session(), "POSIX_SPAWN_SETSID: the child leads a new session");

    String status = capture(List.of("/bin/grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status"), Map.of(), Map.of());
    assertTrue(status.contains("SigBlk:\t0000000000000000"), status);
    // glibc's posix_spawn deliberately leaves its internal signals 32 and 33 (SIGCANCEL,
    // SIGSETXID) ignored; every ordinary signal must be at its default.
    long ignored = Long.parseLong(status.replaceAll("(?s).*SigIgn:\t([0-9a-f]+).*", "$1"), 16);
    assertEquals(0, ignored & ~0x1_8000_0000L, status);
  }

  @Test
  void placesSeveralDescriptorsEvenWhenSourcesCollideWithTargets() throws Exception {
    int[] report = UnixSockets.socketPair();
    try {
      // the same socket placed at 0, 3 and 4: each dup2 must see its source intact
      Map<Integer, Integer> three = Map.of(3, report[1], 4, report[1], 0, report[1]);
      capture(List.of("/bin/sh", "-c", "echo a >&3; echo b >&4; echo c >&0"), Map.of(), three);
      FileDescriptors.close(report[1]);
      report[1] = -1;
      assertEquals("a\nb\nc\n", readAll(report[0]));
    } finally {
      FileDescriptors.closeQuietly(report[0]);
      FileDescriptors.closeQuietly(report[1]);
    }
    // a low JVM descriptor (0) as the source of a higher target, and a gap at 3 that must be closed
    String fds = capture(List.of("/bin/ls", "-1", "/proc/self/fd"), Map.of(), Map.of(4, 0));
    assertEquals(java.util.Set.of(0, 1, 2, 3, 4), fdSet(fds), "3 is ls's own directory descriptor: " + fds);
  }

  @Test
  void exitStatusAndSignalThroughPidfd() throws Exception {
    int pid = PosixSpawn.spawn(new PosixSpawn.Request("/bin/sh", List.of("sh", "-c", "exit 7"), Map.of(), Map.of()));
    int pidfd = PidFds.open(pid);
    try {
      ExitStatus st = awaitExit(pidfd, pid, Duration.ofSeconds(10));
      assertTrue(st.exitedWith(7), st.toString());
      assertEquals(pid, st.pid());
      assertEquals("exited with status 7", st.toString());
    } finally {
      FileDescriptors.close(pidfd);
    }

    int sleeper = PosixSpawn.spawn(new PosixSpawn.Request("/bin/sleep", List.of("sleep", "60"), Map.of(), Map.of()));
    int sleeperFd = PidFds.open(sleeper);
    try {
      assertEquals(Optional.empty(), PidFds.waitNoHang(sleeperFd, sleeper));
      Signals.pidfdSendSignal(sleeperFd, Signals.SIGKILL);
      ExitStatus st = awaitExit(sleeperFd, sleeper, Duration.ofSeconds(10));
      assertTrue(st.killedBy(Signals.SIGKILL), st.toString());
      assertEquals("killed by SIGKILL", st.toString());
    } finally {
      FileDescriptors.close(sleeperFd);
    }
  }

  @Test
  void killByPidAndReapByPid() throws Exception {
    int pid = PosixSpawn.spawn(new PosixSpawn.Request("/bin/sleep", List.of("sleep", "60"), Map.of(), Map.of()));
    assertEquals(Optional.empty(), PidFds.reapNoHang(pid));
    Signals.kill(pid, Signals.SIGTERM);
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    Optional<ExitStatus> st = Optional.empty();
    while (st.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(10);
      st = PidFds.reapNoHang(pid);
    }
    assertTrue(st.orElseThrow().killedBy(Signals.SIGTERM));
    assertTrue(ProcFs.stat(pid).isEmpty());
  }

  @Test
  void missingExecutableNamesPosixSpawnAndErrno() {
    NativeException e = assertThrows(NativeException.class, () -> PosixSpawn.spawn(
        new PosixSpawn.Request("/nonexistent/binary", List.of("x"), Map.of(), Map.of())));
    assertEquals("posix_spawn", e.call());
    assertEquals(2, e.errno());
    assertEquals("posix_spawn: No such file or directory (errno 2)", e.getMessage());
  }

  @Test
  void pidfdOpenOfMissingProcessFails() {
    NativeException e = assertThrows(NativeException.class, () -> PidFds.open(Integer.MAX_VALUE - 1));
    assertNotEquals(0, e.errno());
    assertTrue(e.getMessage().startsWith("pidfd_open: "), e.getMessage());
  }
}
