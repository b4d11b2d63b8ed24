package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.MoreExecutors;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Events;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15: a config read that hangs (an NFS mount that stops answering) delays only that read.
 * The reader is replaced by one that blocks on slow.ini until released: meanwhile the loop keeps
 * turning (another vassal's heartbeats arrive, a silent one is killed for it and respawned, a
 * SIGKILLed one is respawned), and once the read returns slow.ini is taken up. All file-system
 * work is done by one "emperor-io" thread, however many vassals there are.
 */
class HungFileSystemTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  /** beat.ini beats every 0.1 s for ever; silent.ini beats three times, then keeps still. */
  private static final String VASSAL = "#!/bin/sh\nprintf '\\001\\005\\021' >&3\n"
      + "case \"$2\" in *silent.ini) n=3 ;; *) n=1000000 ;; esac\n"
      + "while [ $n -gt 0 ]; do printf '\\032' >&3; sleep 0.1; n=$((n-1)); done\nexec sleep 600\n";

  @TempDir Path dir;
  private Emperor emperor;
  private final Events events = new Events();
  private final CountDownLatch reading = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);

  @AfterEach
  void tearDown() throws Exception {
    release.countDown();
    ConfigFacts.reader = file -> Files.readString(file, StandardCharsets.UTF_8);
    if (emperor != null && emperor.isRunning()) {
      emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    }
  }

  /** I/O threads of Emperors started since {@code before} was taken (other tests' are left out). */
  private static long ioThreads(java.util.Set<Thread> before) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals("emperor-io") && t.isAlive() && !before.contains(t)).count();
  }

  @Test
  void aHungConfigReadDelaysOnlyThatVassalWhileTheLoopKeepsTurning() throws Exception {
    ConfigFacts.reader = file -> {
      if (file.getFileName().toString().equals("slow.ini")) {
        reading.countDown();
        try {
          release.await(); // as a read from a mount that stopped answering
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return Files.readString(file, StandardCharsets.UTF_8);
    };
    Path bin = dir.resolve("vassal");
    Files.writeString(bin, VASSAL);
    Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path vd = Files.createDirectories(dir.resolve("vassals"));
    for (String name : new String[] {"beat.ini", "silent.ini", "a.ini", "b.ini", "c.ini"}) {
      Files.writeString(vd.resolve(name), "[uwsgi]\n");
    }
    java.util.Set<Thread> threadsBefore = java.util.Set.copyOf(Thread.getAllStackTraces().keySet());
    emperor = Emperor.builder().vassalDirectory(vd).binaryPath(bin.toString()).heartbeat(Duration.ofSeconds(1))
        .reloadMercy(Duration.ofSeconds(1)).rescanInterval(Duration.ofMillis(200)).build();
    emperor.addListener(events, MoreExecutors.directExecutor());
    emperor.startAsync().awaitRunning(20, TimeUnit.SECONDS);
    Await.until("five vassals accepting", WAIT,
        () -> emperor.vassals().size() == 5 && emperor.vassals().stream().allMatch(VassalView::accepting));
    assertEquals(1, ioThreads(threadsBefore), "one I/O thread for five vassals");

    // the read of slow.ini hangs on the I/O thread
    Files.writeString(vd.resolve("slow.ini"), "[uwsgi]\nhttp-socket = 127.0.0.1:1\n");
    assertTrue(reading.await(20, TimeUnit.SECONDS), "slow.ini is being read");

    // meanwhile the loop turns: heartbeats, a heartbeat timeout with its respawn, a death with its respawn
    Instant beat = emperor.vassal("beat.ini").orElseThrow().lastHeartbeat().orElse(Instant.EPOCH);
    Await.until("beat.ini's heartbeats keep arriving", WAIT,
        () -> emperor.vassal("beat.ini").orElseThrow().lastHeartbeat().map(t -> t.isAfter(beat)).orElse(false));
    events.await("silent.ini", VassalEvent.Type.HEARTBEAT_MISSED, 1, WAIT);
    events.await("silent.ini", VassalEvent.Type.RESPAWNED, 1, WAIT);
    Signals.kill(emperor.vassal("a.ini").orElseThrow().pid(), Signals.SIGKILL);
    events.await("a.ini", VassalEvent.Type.DIED, 1, WAIT);
    events.await("a.ini", VassalEvent.Type.RESPAWNED, 1, WAIT);
    Await.until("a.ini accepting again", WAIT, () -> emperor.vassal("a.ini").orElseThrow().accepting());
    assertTrue(emperor.vassal("slow.ini").isEmpty(), "slow.ini is not taken up before its read returns");
    assertEquals(1, ioThreads(threadsBefore), "still one I/O thread while it is blocked");

    // the read returns: slow.ini is taken up with what its config says
    release.countDown();
    Await.until("slow.ini accepting", WAIT,
        () -> emperor.vassal("slow.ini").map(VassalView::accepting).orElse(false));
    assertEquals("http://127.0.0.1:1/", emperor.vassal("slow.ini").orElseThrow().httpUrl().orElseThrow().toString());
    assertEquals(1, ioThreads(threadsBefore), "one I/O thread for six vassals");
    emperor.stopAsync().awaitTerminated(30, TimeUnit.SECONDS);
    Await.until("the I/O thread ends with its Emperor", WAIT, () -> ioThreads(threadsBefore) == 0);
  }
}
