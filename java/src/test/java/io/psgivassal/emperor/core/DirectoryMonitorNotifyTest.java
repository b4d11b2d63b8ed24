package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.DirectoryMonitor;
import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.api.MonitorContext;
import io.psgivassal.emperor.api.MonitorSettings;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.monitor.DirectoryWatcher;
import io.psgivassal.emperor.natives.Epoll;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The directory monitor's inotify path on a real event loop. Timers are recorded, never run: what
 * the monitor reports here it reported from a notification, not from a settled or periodic rescan.
 */
class DirectoryMonitorNotifyTest {
  @TempDir Path root;
  private Path dir;
  private Path staging;
  private EventLoop loop;
  private Monitor monitor;
  /** The same as {@link #monitor} when a test needs to rescan. */
  private DirectoryWatcher watcher;
  private final List<String> calls = new ArrayList<>();
  private final List<Runnable> timers = new ArrayList<>();

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createDirectory(root.resolve("vassals"));
    staging = Files.createDirectory(root.resolve("staging"));
    loop = new EventLoop(16);
  }

  @AfterEach
  void tearDown() {
    if (monitor != null) {
      monitor.stop();
    }
    loop.close();
  }

  private void start() {
    monitor = watcher = watcher(dir);
    monitor.start(new MonitorContext() {
      @Override
      public void put(VassalSpec spec, Instant lastModified) {
        calls.add("put " + spec.name());
      }

      @Override
      public void remove(String name) {
        calls.add("remove " + name);
      }

      @Override
      public void execute(Runnable task) {
        loop.execute(task);
      }

      @Override
      public Cancellable schedule(Duration delay, Runnable task) {
        timers.add(task);
        return () -> timers.remove(task);
      }

      @Override
      public Cancellable watch(int fd, Runnable onReadable) {
        loop.register(fd, Epoll.EPOLLIN, events -> onReadable.run());
        return () -> loop.unregister(fd);
      }

      @Override
      public MonitorSettings settings() {
        return MonitorSettings.defaults();
      }
    });
  }

  /** Turns the loop until {@code done} holds; false after 5 s. */
  private boolean pumpUntil(BooleanSupplier done) {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      loop.runOnce(50);
    }
    return true;
  }

  /** Turns the loop while events may arrive, for a negative check. */
  private void pumpFor(Duration d) {
    long deadline = System.nanoTime() + d.toNanos();
    while (System.nanoTime() < deadline) {
      loop.runOnce(20);
    }
  }

  private boolean called(String call) {
    return calls.contains(call);
  }

  @Test
  void renamedInTouchedAndRenamedOutFilesAreReportedFromTheNotificationAlone() throws IOException {
    start();
    Files.writeString(staging.resolve("a.ini"), "[uwsgi]\n");
    Files.move(staging.resolve("a.ini"), dir.resolve("a.ini"), StandardCopyOption.ATOMIC_MOVE);
    assertTrue(pumpUntil(() -> called("put a.ini")), "a renamed-in file starts its vassal: " + calls);
    calls.clear();

    Files.setLastModifiedTime(dir.resolve("a.ini"), FileTime.from(Instant.now().plusSeconds(5)));
    assertTrue(pumpUntil(() -> called("put a.ini")), "a touch reloads: " + calls);
    calls.clear();

    Files.move(dir.resolve("a.ini"), staging.resolve("a.ini"), StandardCopyOption.ATOMIC_MOVE);
    assertTrue(pumpUntil(() -> called("remove a.ini")), "a renamed-out file stops its vassal: " + calls);
    calls.clear();

    Files.writeString(dir.resolve("b.ini"), "[uwsgi]\n");
    assertTrue(pumpUntil(() -> called("put b.ini")), "a file written in place starts at its close: " + calls);
    Files.delete(dir.resolve("b.ini"));
    assertTrue(pumpUntil(() -> called("remove b.ini")), "a deleted file stops its vassal: " + calls);

    Files.writeString(staging.resolve("c.ini"), "[uwsgi]\n");
    Files.createSymbolicLink(dir.resolve("c.ini"), staging.resolve("c.ini"));
    assertTrue(pumpUntil(() -> called("put c.ini")), "a symbolic link starts as it is created: " + calls);
    Files.createLink(dir.resolve("d.ini"), staging.resolve("c.ini"));
    assertTrue(pumpUntil(() -> called("put d.ini")), "so does a hard link: " + calls);
  }

  @Test
  void aFileStillBeingWrittenIsNotReadBeforeItIsClosed() throws IOException {
    start();
    try (FileChannel ch = FileChannel.open(dir.resolve("slow.ini"), StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap("[uwsgi]\nhttp-sock".getBytes(StandardCharsets.US_ASCII)));
      pumpFor(Duration.ofMillis(200));
      assertEquals(List.of(), calls, "half a config is not started");
      assertEquals(1, timers.size() - 1, "one settled rescan waits as the fallback (besides the periodic one)");
      ch.write(ByteBuffer.wrap("et = 127.0.0.1:9\n".getBytes(StandardCharsets.US_ASCII)));
    }
    assertTrue(pumpUntil(() -> called("put slow.ini")), "started at its close: " + calls);
  }

  @Test
  void aRemovedAndRecreatedDirectoryIsWatchedAgainAfterARescan() throws IOException {
    start();
    Files.delete(dir);
    pumpFor(Duration.ofMillis(100));
    Files.createDirectory(dir);
    watcher.rescan(); // what the periodic rescan does
    Files.writeString(staging.resolve("e.ini"), "[uwsgi]\n");
    Files.move(staging.resolve("e.ini"), dir.resolve("e.ini"), StandardCopyOption.ATOMIC_MOVE);
    assertTrue(pumpUntil(() -> called("put e.ini")), "the new directory is watched: " + calls);
  }

  /** What {@code DirectoryMonitor.directory(dir)} runs, with its rescan at hand. */
  private static DirectoryWatcher watcher(Path dir) {
    return new DirectoryWatcher(dir.toString(), dir, Optional.empty());
  }
}
