package io.psgivassal.emperor.monitor;

import io.psgivassal.emperor.core.ListenAddress;
import io.psgivassal.emperor.core.VassalSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * uWSGI's "dir" and "glob" monitors: every regular file in a directory whose name ends in a config
 * extension (.ini, .xml, .yml, .yaml, .js, .json), or only those matching a glob, is a vassal named
 * after the file. A new file starts a vassal, a changed modification time reloads it, a removed
 * file stops it.
 *
 * <p>The JDK's WatchService says when to look (one watch thread per monitor, whatever the number
 * of vassals, handing a rescan to the event loop), and a periodic rescan is the safety net for
 * whatever it misses (overflow, a directory replaced, file systems without inotify). Each rescan
 * compares the directory with what was seen last time, on the event loop thread.
 */
public final class DirectoryMonitor implements Monitor {
  private static final Logger log = LoggerFactory.getLogger(DirectoryMonitor.class);
  /** Events come in bursts (create, write, close): one rescan shortly after the first covers them. */
  private static final Duration SETTLE = Duration.ofMillis(20);

  private final String id;
  private final Path dir;
  private final Optional<PathMatcher> glob;
  private final Map<String, Seen> seen = new HashMap<>();
  private MonitorContext ctx;
  private WatchService watcher;
  private WatchKey key;
  private Thread watchThread;
  private boolean rescanPending;
  private MonitorContext.Cancellable periodic;
  private volatile boolean stopped;

  /** What a file looked like at the last scan: a change in either time means "config changed". */
  private record Seen(FileTime config, Optional<FileTime> onDemandFile) {}

  private DirectoryMonitor(String id, Path dir, Optional<PathMatcher> glob) {
    this.id = id;
    this.dir = dir.toAbsolutePath().normalize();
    this.glob = glob;
  }

  /**
   * What {@code --emperor} takes: a directory, or a glob such as {@code /etc/vassals/*.ini}
   * (wildcards only in the file name part); uWSGI's {@code dir://} and {@code glob://} prefixes
   * are accepted too.
   *
   * @throws IllegalArgumentException naming the argument, when it is neither
   */
  public static DirectoryMonitor of(String dirOrGlob) {
    if (dirOrGlob.startsWith("dir://")) {
      Path d = Path.of(dirOrGlob.substring(6));
      if (!Files.isDirectory(d)) {
        throw new IllegalArgumentException(dirOrGlob + " is not a directory");
      }
      return directory(d);
    }
    if (dirOrGlob.startsWith("glob://")) {
      dirOrGlob = dirOrGlob.substring(7);
    }
    Path p = Path.of(dirOrGlob);
    Path name = p.getFileName();
    Path parent = p.toAbsolutePath().getParent();
    if (parent != null && isPattern(parent.toString())) {
      throw new IllegalArgumentException(dirOrGlob + ": wildcards are only supported in the file name part");
    }
    if (name != null && isPattern(name.toString())) {
      if (parent == null || !Files.isDirectory(parent)) {
        throw new IllegalArgumentException(dirOrGlob + ": " + parent + " is not a directory");
      }
      return glob(parent, name.toString(), dirOrGlob);
    }
    if (!Files.isDirectory(p)) {
      throw new IllegalArgumentException(dirOrGlob + " is not a directory (nor a glob)");
    }
    return directory(p);
  }

  public static DirectoryMonitor directory(Path dir) {
    return new DirectoryMonitor(dir.toAbsolutePath().normalize().toString(), dir, Optional.empty());
  }

  public static DirectoryMonitor glob(Path dir, String pattern) {
    return glob(dir, pattern, dir.toAbsolutePath().normalize().resolve(pattern).toString());
  }

  private static DirectoryMonitor glob(Path dir, String pattern, String id) {
    return new DirectoryMonitor(id, dir, Optional.of(FileSystems.getDefault().getPathMatcher("glob:" + pattern)));
  }

  private static boolean isPattern(String s) {
    return s.indexOf('*') >= 0 || s.indexOf('?') >= 0 || s.indexOf('[') >= 0 || s.indexOf('{') >= 0;
  }

  @Override
  public String id() {
    return id;
  }

  public Path directory() {
    return dir;
  }

  @Override
  public void start(MonitorContext context) {
    this.ctx = context;
    try {
      watcher = FileSystems.getDefault().newWatchService();
      watchThread = new Thread(this::watch, "emperor-watch " + dir.getFileName());
      watchThread.setDaemon(true);
      watchThread.start();
    } catch (IOException e) {
      log.warn("monitor {}: no file-system notifications ({}); rescanning every {} ms", id, e.getMessage(),
          ctx.settings().rescanInterval().toMillis());
    }
    rescan();
    schedulePeriodic();
    log.info("monitor {} started: {} vassal config(s)", id, seen.size());
  }

  @Override
  public void stop() {
    stopped = true;
    if (periodic != null) {
      periodic.cancel();
    }
    if (watcher != null) {
      try {
        watcher.close();
      } catch (IOException e) {
        log.debug("monitor {}: closing the watch service: {}", id, e.getMessage());
      }
    }
    if (watchThread != null) {
      watchThread.interrupt();
      try {
        watchThread.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** The watch thread: turns any event into one (settled) rescan on the loop. */
  private void watch() {
    while (!stopped) {
      WatchKey k;
      try {
        k = watcher.take();
      } catch (ClosedWatchServiceException | InterruptedException e) {
        return;
      }
      k.pollEvents();
      k.reset();
      try {
        ctx.execute(this::rescanSoon);
      } catch (RejectedExecutionException loopGone) {
        return;
      }
    }
  }

  private void rescanSoon() {
    if (rescanPending || stopped) {
      return;
    }
    rescanPending = true;
    ctx.schedule(SETTLE, () -> {
      rescanPending = false;
      if (!stopped) {
        rescan();
      }
    });
  }

  private void schedulePeriodic() {
    periodic = ctx.schedule(ctx.settings().rescanInterval(), () -> {
      if (!stopped) {
        rescan();
        schedulePeriodic();
      }
    });
  }

  /** Compares the directory with the last scan and tells the Emperor the differences. */
  void rescan() {
    ensureWatched();
    Set<String> present = new HashSet<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path p : entries) {
        String name = p.getFileName().toString();
        if (!VassalSpec.isValidConfigName(name) || glob.map(g -> !g.matches(p.getFileName())).orElse(false)) {
          continue;
        }
        if (examine(p, name)) {
          present.add(name);
        }
      }
    } catch (NoSuchFileException e) {
      log.debug("monitor {}: directory {} is gone", id, dir);
    } catch (IOException | RuntimeException e) {
      // an unreadable directory is not a reason to stop every vassal: keep what we know
      log.warn("monitor {}: cannot list {}: {}", id, dir, e.getMessage());
      return;
    }
    for (String name : Set.copyOf(seen.keySet())) {
      if (!present.contains(name)) {
        seen.remove(name);
        log.info("monitor {}: {} removed", id, name);
        ctx.remove(name);
      }
    }
  }

  /** @return whether the file is (still) a vassal config */
  private boolean examine(Path p, String name) {
    BasicFileAttributes attrs;
    try {
      attrs = Files.readAttributes(p, BasicFileAttributes.class);
    } catch (NoSuchFileException gone) {
      return false;
    } catch (IOException e) {
      log.warn("monitor {}: cannot stat {}: {}", id, p, e.getMessage());
      return seen.containsKey(name);
    }
    if (!attrs.isRegularFile()) {
      return false;
    }
    MonitorSettings settings = ctx.settings();
    Optional<FileTime> onDemandTime = OnDemandSockets.addressFile(p, settings).flatMap(DirectoryMonitor::mtime);
    Seen now = new Seen(attrs.lastModifiedTime(), onDemandTime);
    if (now.equals(seen.get(name))) {
      return true;
    }
    VassalSpec spec;
    try {
      Optional<ListenAddress> onDemand = OnDemandSockets.resolve(p, settings);
      Map<String, String> attributes = settings.attributes().isEmpty() ? Map.of()
          : IniSection.read(Files.readString(p, StandardCharsets.UTF_8), "emperor", settings.attributes());
      spec = VassalSpec.ofFile(p).withOnDemand(onDemand).withAttributes(attributes);
    } catch (IOException | RuntimeException e) {
      log.warn("monitor {}: cannot read {}: {}; will look again", id, p, e.getMessage());
      return seen.containsKey(name);
    }
    boolean isNew = !seen.containsKey(name);
    seen.put(name, now);
    log.info("monitor {}: {} {}", id, name, isNew ? "appeared" : "changed");
    ctx.put(spec, attrs.lastModifiedTime().toInstant());
    return true;
  }

  private static Optional<FileTime> mtime(Path p) {
    try {
      return Optional.of(Files.getLastModifiedTime(p));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** (Re-)registers the directory: it may not exist yet, or may have been replaced. */
  private void ensureWatched() {
    if (watcher == null || (key != null && key.isValid()) || !Files.isDirectory(dir)) {
      return;
    }
    try {
      key = dir.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
          StandardWatchEventKinds.ENTRY_MODIFY);
    } catch (IOException | ClosedWatchServiceException e) {
      log.warn("monitor {}: cannot watch {}: {}; relying on rescans", id, dir, e.getMessage());
    }
  }

  /** For tests and logs: the file times of the last scan. */
  Instant lastSeen(String name) {
    Seen s = seen.get(name);
    return s == null ? null : s.config().toInstant();
  }
}
