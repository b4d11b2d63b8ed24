package io.psgivassal.emperor.api;

import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.Optional;

/**
 * uWSGI's "dir" and "glob" monitors: every regular file in a directory whose name ends in a config
 * extension ({@link Defaults#configExtensions}), or only those matching a glob, is a vassal named
 * after the file. A new file starts a vassal, a changed modification time reloads it, a removed
 * file stops it. inotify, read by the Emperor's event loop, says when to look; a periodic rescan is
 * the safety net; file-system calls run on the Emperor's I/O thread, so that a hung mount never
 * stalls the loop.
 */
public final class DirectoryMonitor implements Monitor {
  private final String id;
  private final Path dir;
  private final Monitor watcher;

  private DirectoryMonitor(String id, Path dir, Optional<PathMatcher> glob) {
    this.id = id;
    this.dir = dir.toAbsolutePath().normalize();
    this.watcher = Engines.provider().directoryWatcher(id, dir, glob);
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
    watcher.start(context);
  }

  @Override
  public void stop() {
    watcher.stop();
  }
}
