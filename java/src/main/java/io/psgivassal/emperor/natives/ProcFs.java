package io.psgivassal.emperor.natives;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/** The few /proc facts the Emperor needs about its children. */
public final class ProcFs {
  private static final Path PROC = Path.of("/proc");

  private ProcFs() {}

  /** Fields of /proc/PID/stat. */
  public record Stat(int pid, char state, int ppid, int pgrp, int session) {
    public boolean zombie() {
      return state == 'Z';
    }
  }

  /** /proc/PID/stat, or empty if the process does not exist (any more). */
  public static Optional<Stat> stat(int pid) {
    String line;
    try {
      // bytes, not UTF-8: the command name is whatever the process set, cut at 15 bytes
      line = new String(Files.readAllBytes(PROC.resolve(Integer.toString(pid)).resolve("stat")),
          java.nio.charset.StandardCharsets.ISO_8859_1);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      // ESRCH surfaces as a plain IOException when the process exits between open and read
      return Optional.empty();
    }
    return Optional.of(parseStat(line));
  }

  /**
   * Parses a stat line. The command name (field 2) may contain spaces and parentheses, so fields
   * are counted from the LAST ')'.
   */
  static Stat parseStat(String line) {
    int open = line.indexOf('(');
    int close = line.lastIndexOf(')');
    int pid = Integer.parseInt(line.substring(0, open).trim());
    String[] f = line.substring(close + 2).trim().split(" ");
    // f[0] = state (field 3), f[1] = ppid (4), f[2] = pgrp (5), f[3] = session (6)
    return new Stat(pid, f[0].charAt(0), Integer.parseInt(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]));
  }

  /**
   * Children of {@code pid}, from /proc/PID/task/*&#47;children. All threads are read because a
   * child belongs to the thread that created it, and an orphan re-parented to a subreaper may be
   * attached to any of its threads.
   */
  public static Set<Integer> children(int pid) {
    Set<Integer> out = new TreeSet<>();
    Path tasks = PROC.resolve(Integer.toString(pid)).resolve("task");
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(tasks)) {
      for (Path task : dir) {
        String text;
        try {
          text = Files.readString(task.resolve("children"));
        } catch (IOException threadGone) {
          continue;
        }
        for (String s : text.trim().split("\\s+")) {
          if (!s.isEmpty()) {
            out.add(Integer.parseInt(s));
          }
        }
      }
    } catch (IOException processGone) {
      return out;
    }
    return out;
  }

  public static boolean exists(int pid) {
    return Files.exists(PROC.resolve(Integer.toString(pid)));
  }

  /** The descriptors open in this process, from /proc/self/fd. */
  public static Set<Integer> openFds() {
    Set<Integer> out = new TreeSet<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(PROC.resolve("self/fd"))) {
      for (Path p : dir) {
        out.add(Integer.parseInt(p.getFileName().toString()));
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out;
  }
}
