package io.psgivassal.emperor.testing;

import io.psgivassal.emperor.natives.ProcFs;
import java.util.List;
import java.util.Set;

/** What the JVM's process tree looks like. */
public final class Procs {
  private Procs() {}

  public static long self() {
    return ProcessHandle.current().pid();
  }

  /** Children of the JVM that are zombies nobody reaped. */
  public static List<Integer> zombieChildren() {
    return ProcFs.children((int) self()).stream()
        .filter(p -> ProcFs.stat(p).map(ProcFs.Stat::zombie).orElse(false)).toList();
  }

  /** Live children of the JVM in a session other than its own: vassals and their descendants. */
  public static List<Integer> vassalChildren() {
    int own = ProcFs.stat((int) self()).orElseThrow().session();
    return ProcFs.children((int) self()).stream()
        .filter(p -> ProcFs.stat(p).map(s -> !s.zombie() && s.session() != own).orElse(false)).toList();
  }

  public static boolean alive(int pid) {
    return ProcFs.stat(pid).map(s -> !s.zombie()).orElse(false);
  }

  public static Set<Integer> children(int pid) {
    return ProcFs.children(pid);
  }
}
