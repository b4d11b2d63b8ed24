package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, suspect 5: a vassal that survives SIGKILL (stuck in the kernel, state D). Faked: the
 * Emperor's SIGKILL is made a no-op, so the process (which ignores the stop byte) outlives the
 * mercy and the kill grace. The Emperor still terminates, abandons the pid, and the pid is reaped
 * once the process dies at last instead of staying a zombie of the JVM.
 */
class AbandonedVassalTest {
  @TempDir Path dir;
  private Emperor emperor;
  private int pid;

  @AfterEach
  void tearDown() throws Exception {
    VassalInstance.killer = fd -> Signals.pidfdSendSignal(fd, Signals.SIGKILL);
    if (pid > 0 && ProcFs.stat(pid).isPresent()) {
      Signals.kill(pid, Signals.SIGKILL);
    }
    if (emperor != null && emperor.isRunning()) {
      emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void aVassalThatSurvivesSigkillIsAbandonedAtStopAndReapedWhenItDiesAtLast() throws Exception {
    Path bin = dir.resolve("stuck");
    Files.writeString(bin, "#!/bin/sh\nprintf '\\001' >&3\nexec sleep 60\n");
    Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path vd = Files.createDirectories(dir.resolve("vassals"));
    Files.writeString(vd.resolve("s.ini"), "[uwsgi]\n");
    VassalInstance.killer = fd -> {}; // SIGKILL does not take
    emperor = Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).reloadMercy(Duration.ofMillis(300)).build();
    emperor.startAsync().awaitRunning(20, TimeUnit.SECONDS);
    Await.until("ready", Duration.ofSeconds(20), () -> emperor.vassal("s.ini").map(VassalView::ready).orElse(false));
    pid = emperor.vassal("s.ini").orElseThrow().pid();

    emperor.stopAsync().awaitTerminated(20, TimeUnit.SECONDS); // mercy, then 5 s of grace: it terminates
    assertTrue(ProcFs.stat(pid).map(s -> !s.zombie()).orElse(false), "the process outlived its Emperor");
    assertTrue(AbandonedReaper.pids().contains(pid), "its pid was abandoned to the JVM-wide reaper");

    Signals.kill(pid, Signals.SIGKILL); // it leaves the kernel at last
    Await.until("reaped, no zombie left", Duration.ofSeconds(10), () -> ProcFs.stat(pid).isEmpty());
    Await.until("no longer waited for", Duration.ofSeconds(5), () -> !AbandonedReaper.pids().contains(pid));
  }
}
