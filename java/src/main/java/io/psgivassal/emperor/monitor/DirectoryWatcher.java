package io.psgivassal.emperor.monitor;

import io.psgivassal.emperor.api.DirectoryMonitor;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.api.MonitorContext;
import io.psgivassal.emperor.api.MonitorSettings;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.ini.Ini;
import io.psgivassal.emperor.natives.Inotify;
import io.psgivassal.emperor.natives.NativeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a {@link DirectoryMonitor} runs (which files are vassals is said there).
 *
 * <p>inotify, read by the Emperor's event loop (no thread of its own), says when to look: a file
 * that was renamed in, closed after writing or touched is examined at once, so a new vassal starts
 * within a millisecond of its file appearing; so is a link as it is created. A file still being
 * written ({@code IN_CREATE}, {@code IN_MODIFY}) waits for its close, so that half a config is
 * never read, with a settled rescan as the fallback for writers that never close. A periodic
 * rescan is the safety net for whatever notifications miss (queue overflow, file systems without
 * inotify). The loop reads the notifications and decides what to look at; the looking (listing the
 * directory, stat, reading a config, adding the watch) runs on the Emperor's I/O thread ({@link
 * MonitorContext#io}), so a mount that stops answering never stalls the loop, and what it found
 * goes back to the loop in order. {@link #seen} belongs to the I/O thread.
 */
public final class DirectoryWatcher implements Monitor {
  private static final Logger log = LoggerFactory.getLogger(DirectoryMonitor.class);
  /**
   * After IN_CREATE or IN_MODIFY of a regular file and no close yet: a writer that never closes
   * (mmap, a file published with linkat) is picked up by one rescan this long after the burst.
   */
  private static final Duration SETTLE = Duration.ofMillis(250);
  /** A file complete now: renamed in, closed after writing, or touched (uWSGI's reload idiom). */
  private static final int COMPLETE = Inotify.IN_MOVED_TO | Inotify.IN_CLOSE_WRITE | Inotify.IN_ATTRIB;
  private static final int GONE = Inotify.IN_MOVED_FROM | Inotify.IN_DELETE;
  private static final int WRITING = Inotify.IN_CREATE | Inotify.IN_MODIFY;
  private static final int DIRECTORY_GONE = Inotify.IN_DELETE_SELF | Inotify.IN_MOVE_SELF | Inotify.IN_IGNORED
      | Inotify.IN_UNMOUNT;

  private final String id;
  private final Path dir;
  private final Optional<PathMatcher> glob;
  /** The I/O thread's: what each file looked like when it was last examined. */
  private final Map<String, Seen> seen = new HashMap<>();
  private MonitorContext ctx;
  /** Created and read on the loop; watches added and the descriptor closed on the I/O thread. */
  private volatile Inotify inotify;
  private MonitorContext.Cancellable notifications;
  private volatile int wd = -1;
  private boolean rescanPending;
  private MonitorContext.Cancellable periodic;
  private volatile boolean stopped;
  private boolean firstScan = true;

  /**
   * What a file looked like at the last scan: a change in either time means "config changed". The
   * size catches a file read while being written within one tick of the file-system clock.
   */
  private record Seen(FileTime config, long size, Optional<FileTime> onDemandFile) {}

  public DirectoryWatcher(String id, Path dir, Optional<PathMatcher> glob) {
    this.id = id;
    this.dir = dir.toAbsolutePath().normalize();
    this.glob = glob;
  }

  @Override
  public String id() {
    return id;
  }

  @Override
  public void start(MonitorContext context) {
    this.ctx = context;
    try {
      inotify = Inotify.create();
      notifications = ctx.watch(inotify.fd(), this::onNotify);
    } catch (NativeException e) {
      log.warn("monitor {}: no file-system notifications ({}); rescanning every {} ms", id, e.getMessage(),
          ctx.settings().rescanInterval().toMillis());
      closeInotify();
    }
    log.info("monitor {} started", id);
    rescan();
    schedulePeriodic();
  }

  @Override
  public void stop() {
    stopped = true;
    if (periodic != null) {
      periodic.cancel();
    }
    if (notifications != null) {
      notifications.cancel();
      notifications = null;
    }
    // after the I/O queued before it, which may still add a watch to this descriptor
    ctx.io(this::closeInotify);
  }

  private void closeInotify() {
    if (notifications != null) {
      notifications.cancel();
      notifications = null;
    }
    Inotify in = inotify;
    inotify = null;
    if (in != null) {
      in.close();
    }
    wd = -1;
  }

  /** The loop calls this when inotify has events: complete files are examined at once. */
  private void onNotify() {
    if (stopped || inotify == null) {
      return;
    }
    // name -> whether only if it is a link (IN_CREATE): that takes a stat, which is the I/O thread's
    Map<String, Boolean> examineNow = new java.util.LinkedHashMap<>();
    boolean rescanNow = false;
    boolean settle = false;
    for (Inotify.Event ev : inotify.drain()) {
      if (ev.is(Inotify.IN_Q_OVERFLOW)) {
        rescanNow = true; // events were lost: only a full comparison is right
      } else if (ev.wd() == wd && ev.is(DIRECTORY_GONE)) {
        log.info("monitor {}: the directory {} was removed or moved; watching for it again", id, dir);
        if (!ev.is(Inotify.IN_IGNORED)) {
          inotify.removeWatch(wd); // a moved directory is still watched under its new name
        }
        wd = -1;
        rescanNow = true;
      } else if (ev.wd() != wd || ev.name().isEmpty()) {
        // a watch already replaced; or one the I/O thread has just added and not yet recorded
        settle |= wd < 0 && !ev.name().isEmpty();
        continue;
      } else if (!isConfigName(ev.name())) {
        // an on-demand address file (NAME.socket) or directory: rarely changes, compare it all
        settle = true;
      } else if (ev.is(COMPLETE | GONE)) {
        examineNow.put(ev.name(), false);
      } else if (ev.is(Inotify.IN_CREATE)) {
        examineNow.merge(ev.name(), true, Boolean::logicalAnd);
      } else if (ev.is(WRITING)) {
        settle = true; // its IN_CLOSE_WRITE will come: reading it now could see half a config
      }
    }
    if (rescanNow) {
      rescan();
      return;
    }
    if (!examineNow.isEmpty()) {
      ctx.io(() -> {
        boolean notLinks = false;
        for (Map.Entry<String, Boolean> e : examineNow.entrySet()) {
          if (!e.getValue() || isLink(e.getKey())) {
            refresh(e.getKey());
          } else {
            notLinks = true; // being written: its IN_CLOSE_WRITE will come, or the settled rescan
          }
        }
        if (notLinks) {
          ctx.afterIo(this::rescanSoon);
        }
      });
    }
    if (settle) {
      rescanSoon();
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


  /** Compares the directory with the last scan, on the I/O thread, and tells the Emperor the differences. */
  public void rescan() {
    ctx.io(this::scan);
  }

  /** On the I/O thread. */
  private void scan() {
    if (stopped) {
      return;
    }
    ensureWatched();
    Set<String> present = new HashSet<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path p : entries) {
        String name = p.getFileName().toString();
        if (!isConfigName(name)) {
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
        report(() -> ctx.remove(name));
      }
    }
    if (firstScan) {
      firstScan = false;
      log.info("monitor {}: {} vassal config(s)", id, seen.size());
    }
  }

  /** From the I/O thread: {@code news} (a put or a remove) runs on the loop, in order, unless stopped by then. */
  private void report(Runnable news) {
    ctx.afterIo(() -> {
      if (!stopped) {
        news.run();
      }
    });
  }

  /** A symbolic or hard link appears complete, with IN_CREATE and nothing after it. */
  private boolean isLink(String name) {
    Path p = dir.resolve(name);
    try {
      return Files.isSymbolicLink(p) || ((Number) Files.getAttribute(p, "unix:nlink")).intValue() > 1;
    } catch (IOException | RuntimeException e) {
      return false; // gone already, or no unix view: the settled rescan decides
    }
  }

  private boolean isConfigName(String name) {
    return VassalSpec.isValidConfigName(name) && glob.map(g -> g.matches(Path.of(name))).orElse(true);
  }

  /** One file, after a notification, on the I/O thread: started, reloaded or stopped like a rescan would. */
  private void refresh(String name) {
    if (stopped) {
      return;
    }
    ensureWatched();
    if (!examine(dir.resolve(name), name) && seen.remove(name) != null) {
      log.info("monitor {}: {} removed", id, name);
      report(() -> ctx.remove(name));
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
    Optional<FileTime> onDemandTime = OnDemandSockets.addressFile(p, settings).flatMap(DirectoryWatcher::mtime);
    Seen now = new Seen(attrs.lastModifiedTime(), attrs.size(), onDemandTime);
    if (now.equals(seen.get(name))) {
      return true;
    }
    VassalSpec spec;
    try {
      Optional<ListenAddress> onDemand = OnDemandSockets.resolve(p, settings);
      Map<String, String> attributes = settings.attributes().isEmpty() ? Map.of()
          : Ini.emperorAttributes(Files.readString(p, StandardCharsets.UTF_8), settings.attributes());
      spec = VassalSpec.ofFile(p).withOnDemand(onDemand).withAttributes(attributes);
    } catch (IOException | RuntimeException e) {
      log.warn("monitor {}: cannot read {}: {}; will look again", id, p, e.getMessage());
      return seen.containsKey(name);
    }
    boolean isNew = !seen.containsKey(name);
    seen.put(name, now);
    log.info("monitor {}: {} {}", id, name, isNew ? "appeared" : "changed");
    Instant modified = attrs.lastModifiedTime().toInstant();
    report(() -> ctx.put(spec, modified));
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
    Inotify in = inotify;
    if (in == null || wd >= 0 || !Files.isDirectory(dir)) {
      return;
    }
    try {
      wd = in.addWatch(dir, COMPLETE | GONE | WRITING | Inotify.IN_DELETE_SELF | Inotify.IN_MOVE_SELF
          | Inotify.IN_ONLYDIR);
    } catch (NativeException e) {
      log.warn("monitor {}: cannot watch {}: {}; relying on rescans every {} ms", id, dir, e.getMessage(),
          ctx.settings().rescanInterval().toMillis());
    }
  }

  /** For tests and logs: the file times of the last scan (the I/O thread's). */
  Instant lastSeen(String name) {
    Seen s = seen.get(name);
    return s == null ? null : s.config().toInstant();
  }
}
