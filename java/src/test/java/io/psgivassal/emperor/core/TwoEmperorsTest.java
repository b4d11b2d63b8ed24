package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.MoreExecutors;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalView;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15, suspect 4: two Emperors in one JVM (one subreaper) with an orphan reaper each. Each
 * vassal's death is reported by its own Emperor with its real status, never taken by the other's
 * orphan scans, and one Emperor's stop kills nothing of the other's.
 */
class TwoEmperorsTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir Path dir;
  private Emperor a;
  private Emperor b;
  private final Events eventsA = new Events();
  private final Events eventsB = new Events();

  @AfterEach
  void stopBoth() throws Exception {
    for (Emperor e : new Emperor[] {a, b}) {
      if (e != null && e.isRunning()) {
        e.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
      }
    }
  }

  private Emperor start(String name, Events events) throws Exception {
    Path bin = dir.resolve(name + "-vassal");
    Files.writeString(bin, EmperorTest.WELL_BEHAVED);
    Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path vd = Files.createDirectories(dir.resolve(name));
    for (int i = 0; i < 3; i++) {
      Files.writeString(vd.resolve(name + i + ".ini"), "[uwsgi]\n");
    }
    Emperor e = Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).reloadMercy(Duration.ofSeconds(5))
        .orphanScanInterval(Duration.ofMillis(20)).build();
    e.addListener(events, MoreExecutors.directExecutor());
    e.startAsync().awaitRunning(20, TimeUnit.SECONDS);
    Await.until(name + " accepting", WAIT,
        () -> e.vassals().size() == 3 && e.vassals().stream().allMatch(VassalView::accepting));
    return e;
  }

  @Test
  void eachEmperorReapsItsOwnVassalsWithTheirRealStatusAndStopsOnlyThem() throws Exception {
    a = start("a", eventsA);
    b = start("b", eventsB);
    // deaths with a status of their own, many times, while both orphan reapers scan every 20 ms
    for (int round = 0; round < 5; round++) {
      for (Emperor e : List.of(a, b)) {
        for (VassalView v : e.vassals()) {
          Signals.kill(v.pid(), 15);
        }
      }
      int n = round + 1;
      for (String name : List.of("a0.ini", "a1.ini", "a2.ini")) {
        eventsA.await(name, VassalEvent.Type.DIED, n, WAIT);
      }
      for (String name : List.of("b0.ini", "b1.ini", "b2.ini")) {
        eventsB.await(name, VassalEvent.Type.DIED, n, WAIT);
      }
      Await.until("all accepting again", WAIT, () -> List.of(a, b).stream()
          .allMatch(e -> e.vassals().size() == 3 && e.vassals().stream().allMatch(VassalView::accepting)));
    }
    for (Events ev : List.of(eventsA, eventsB)) {
      for (String name : List.of("0", "1", "2")) {
        String vassal = (ev == eventsA ? "a" : "b") + name + ".ini";
        for (VassalEvent died : ev.of(vassal, VassalEvent.Type.DIED)) {
          assertTrue(died.status().orElseThrow().killedBy(15), "its own Emperor saw its real status: " + died);
        }
      }
    }
    assertTrue(eventsA.of("b0.ini").isEmpty() && eventsB.of("a0.ini").isEmpty());

    List<Integer> bPids = b.vassals().stream().map(VassalView::pid).toList();
    a.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    for (int pid : bPids) {
      assertTrue(ProcFs.stat(pid).map(s -> !s.zombie()).orElse(false), "b's vassal " + pid + " lives on after a's stop");
    }
    assertTrue(b.vassals().stream().allMatch(VassalView::accepting));
    assertEquals(5, eventsB.of("b0.ini", VassalEvent.Type.DIED).size(), "b saw no death at a's stop");
    b.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    for (String name : List.of("b0.ini", "b1.ini", "b2.ini")) {
      List<VassalEvent> died = eventsB.of(name, VassalEvent.Type.DIED);
      assertTrue(died.get(died.size() - 1).status().orElseThrow().exitedWith(0), died.toString());
    }
  }
}
