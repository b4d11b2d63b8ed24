package io.psgivassal.emperor.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.DirectoryMonitor;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.api.MonitorContext;
import io.psgivassal.emperor.api.MonitorSettings;
import io.psgivassal.emperor.api.VassalSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The directory and glob monitors' diffing, on a fake context (no Emperor, no loop). */
class DirectoryMonitorTest {
  @TempDir Path dir;
  private final List<String> calls = new ArrayList<>();
  private final List<VassalSpec> puts = new ArrayList<>();
  private Monitor monitor;
  /** The same as {@link #monitor} when a test needs to rescan. */
  private DirectoryWatcher watcher;

  @AfterEach
  void stop() {
    if (monitor != null) {
      monitor.stop();
    }
  }

  private MonitorContext context(MonitorSettings settings) {
    return new MonitorContext() {
      @Override
      public void put(VassalSpec spec, Instant lastModified) {
        calls.add("put " + spec.name());
        puts.add(spec);
      }

      @Override
      public void remove(String name) {
        calls.add("remove " + name);
      }

      @Override
      public void execute(Runnable task) {
        // events from the watch thread: this test drives rescans itself
      }

      @Override
      public Cancellable schedule(Duration delay, Runnable task) {
        return () -> { };
      }

      @Override
      public Cancellable watch(int fd, Runnable onReadable) {
        return () -> { }; // notifications are covered by DirectoryMonitorNotifyTest
      }

      @Override
      public MonitorSettings settings() {
        return settings;
      }
    };
  }

  private void touch(String name, int secondsAhead) throws Exception {
    Files.setLastModifiedTime(dir.resolve(name), FileTime.from(Instant.now().plusSeconds(secondsAhead)));
  }

  @Test
  void aDirectoryTakesEveryConfigExtensionAndReportsChangesAndRemovals() throws Exception {
    for (String f : List.of("a.ini", "b.xml", "c.yml", "d.yaml", "e.js", "f.json", "g.txt", "h.ini.socket")) {
      Files.writeString(dir.resolve(f), "[uwsgi]\n");
    }
    Files.createDirectory(dir.resolve("sub.ini"));
    monitor = watcher = watcher(dir);
    monitor.start(context(MonitorSettings.defaults()));
    assertEquals(Set.of("put a.ini", "put b.xml", "put c.yml", "put d.yaml", "put e.js", "put f.json"), Set.copyOf(calls));
    calls.clear();
    watcher.rescan();
    assertEquals(List.of(), calls, "nothing changed, nothing reported");
    touch("a.ini", 5);
    Files.delete(dir.resolve("b.xml"));
    watcher.rescan();
    assertEquals(Set.of("put a.ini", "remove b.xml"), Set.copyOf(calls));
    VassalSpec a = puts.stream().filter(s -> s.name().equals("a.ini")).findFirst().orElseThrow();
    assertEquals(Optional.of(dir.resolve("a.ini")), a.configPath());
    assertEquals("--ini", a.configFlag());
    assertEquals(dir.resolve("a.ini").toString(), a.configArgument());
  }

  @Test
  void aGlobTakesOnlyWhatMatches() throws Exception {
    for (String f : List.of("app1.ini", "app2.ini", "other.ini", "app3.json")) {
      Files.writeString(dir.resolve(f), "");
    }
    assertEquals(dir.toString(), DirectoryMonitor.of("dir://" + dir).id());
    assertEquals(dir + "/app*.ini", DirectoryMonitor.of("glob://" + dir + "/app*.ini").id());
    monitor = DirectoryMonitor.of(dir + "/app*.ini");
    assertEquals(dir + "/app*.ini", monitor.id());
    monitor.start(context(MonitorSettings.defaults()));
    assertEquals(Set.of("put app1.ini", "put app2.ini"), Set.copyOf(calls));
  }

  @Test
  void badArgumentsAreNamed() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> DirectoryMonitor.of(dir + "/nope"))
        .getMessage().contains("is not a directory"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> DirectoryMonitor.of(dir + "/*/x.ini"))
        .getMessage().contains("wildcards"));
  }

  @Test
  void onDemandSocketsFromAnExtensionFileOrADirectory() throws Exception {
    Files.writeString(dir.resolve("a.ini"), "");
    Files.writeString(dir.resolve("a.ini.sock"), "127.0.0.1:9123\nignored\n");
    Files.writeString(dir.resolve("b.ini"), "");
    Files.writeString(dir.resolve("c.ini"), "");
    Files.writeString(dir.resolve("c.ini.sock"), "\n"); // empty: not on demand
    MonitorSettings ext = new MonitorSettings(Set.of(), Optional.of(".sock"), Optional.of(Path.of("/od")), Duration.ofSeconds(3));
    monitor = watcher = watcher(dir);
    monitor.start(context(ext));
    assertEquals(Optional.of(ListenAddress.parse("127.0.0.1:9123")), spec("a.ini").onDemand());
    assertEquals(Optional.empty(), spec("b.ini").onDemand(), "the extension wins over the directory, as in uWSGI");
    assertEquals(Optional.empty(), spec("c.ini").onDemand());

    // changing only the address file is a change of the vassal
    calls.clear();
    Files.writeString(dir.resolve("a.ini.sock"), "127.0.0.1:9124\n");
    Files.setLastModifiedTime(dir.resolve("a.ini.sock"), FileTime.from(Instant.now().plusSeconds(5)));
    watcher.rescan();
    assertEquals(List.of("put a.ini"), calls);
    assertEquals(9124, spec("a.ini").onDemand().orElseThrow().port());

    monitor.stop();
    puts.clear();
    MonitorSettings byDir = new MonitorSettings(Set.of(), Optional.empty(), Optional.of(Path.of("/run/od")), Duration.ofSeconds(3));
    monitor = watcher = watcher(dir);
    monitor.start(context(byDir));
    assertEquals(Optional.of(Path.of("/run/od/b.socket")), spec("b.ini").onDemand().orElseThrow().unixPath());
  }

  @Test
  void attributesComeFromTheEmperorSectionOnlyAndOnlyThoseAskedFor() throws Exception {
    Files.writeString(dir.resolve("a.ini"), "[uwsgi]\nfork-server = /not/this\nteam = no\n"
        + "[emperor]\n; comment\nfork-server = /run/b.sock \nteam = blue\nteam = second\nother = x\n");
    monitor = watcher = watcher(dir);
    monitor.start(context(new MonitorSettings(Set.of("fork-server", "team"), Optional.empty(), Optional.empty(),
        Duration.ofSeconds(3))));
    assertEquals(Map.of("fork-server", "/run/b.sock", "team", "blue"), spec("a.ini").attributes());
  }

  private VassalSpec spec(String name) {
    List<VassalSpec> l = puts.stream().filter(s -> s.name().equals(name)).toList();
    return l.get(l.size() - 1);
  }

  /** What {@code DirectoryMonitor.directory(dir)} runs, with its rescan at hand. */
  private static DirectoryWatcher watcher(Path dir) {
    return new DirectoryWatcher(dir.toString(), dir, Optional.empty());
  }
}
