package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.MoreExecutors;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Events;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, suspect 1: pidfd_open failing with EMFILE (the JVM is out of descriptors for a moment)
 * says nothing about the vassal, which lives: it must not be reported dead, and it is watched
 * once pidfd_open succeeds again.
 */
class PidfdOpenFailureTest {
  private static final int EMFILE = 24;

  @TempDir Path dir;
  private Emperor emperor;
  private final Events events = new Events();

  @AfterEach
  void tearDown() throws Exception {
    Supervisor.pidfdOpener = PidFds::open;
    if (emperor != null && emperor.isRunning()) {
      emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void anEmfileFromPidfdOpenIsNoDeathAndTheVassalIsWatchedOnceItSucceeds() throws Exception {
    Path bin = dir.resolve("vassal");
    Files.writeString(bin, EmperorTest.WELL_BEHAVED);
    Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path vd = Files.createDirectories(dir.resolve("vassals"));
    Files.writeString(vd.resolve("a.ini"), "[uwsgi]\nhttp-socket = :9001\n");
    AtomicInteger calls = new AtomicInteger();
    Supervisor.pidfdOpener = pid -> {
      if (calls.incrementAndGet() <= 3) {
        throw new NativeException("pidfd_open", EMFILE);
      }
      return PidFds.open(pid);
    };
    emperor = Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).reloadMercy(Duration.ofSeconds(5)).build();
    emperor.addListener(events, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning(20, TimeUnit.SECONDS);

    Await.until("accepting", Duration.ofSeconds(20),
        () -> emperor.vassal("a.ini").map(VassalView::accepting).orElse(false));
    int pid = emperor.vassal("a.ini").orElseThrow().pid();
    Await.until("pidfd_open retried until it succeeds", Duration.ofSeconds(10), () -> calls.get() >= 4);
    Thread.sleep(200);
    assertTrue(events.of("a.ini", VassalEvent.Type.DIED).isEmpty(), "no death reported: " + events.typesOf("a.ini"));
    assertTrue(ProcFs.stat(pid).isPresent(), "the vassal lives");
    assertEquals(List.of(VassalEvent.Type.SPAWNED, VassalEvent.Type.READY, VassalEvent.Type.ACCEPTING),
        events.typesOf("a.ini"));

    // its death is now seen through the pidfd, with its real status
    Signals.kill(pid, 15);
    Await.until("died", Duration.ofSeconds(10), () -> !events.of("a.ini", VassalEvent.Type.DIED).isEmpty());
    VassalEvent died = events.of("a.ini", VassalEvent.Type.DIED).get(0);
    assertTrue(died.status().orElseThrow().killedBy(15), died.toString());
  }
}
