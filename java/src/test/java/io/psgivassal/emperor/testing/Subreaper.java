package io.psgivassal.emperor.testing;

import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.Prctl;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import java.time.Duration;
import java.util.Collection;
import java.util.Set;
import java.util.TreeSet;

/**
 * The test JVM as child subreaper, for tests that kill an Emperor process and must not leave its
 * vassals to init: what the test tracks is killed on {@link #close()} and, once re-parented here,
 * reaped by pid (never {@code waitpid(-1)}: the JDK's own Process reaper would lose exit codes).
 * Processes the JDK started are only killed, never reaped here, for the same reason.
 */
public final class Subreaper implements AutoCloseable {
  private final boolean wasSubreaper;
  private final Set<Integer> tracked = new TreeSet<>();
  private final Set<Integer> jdkChildren = new TreeSet<>();

  private Subreaper() {
    wasSubreaper = Prctl.isChildSubreaper();
    Prctl.setChildSubreaper(true);
  }

  public static Subreaper become() {
    return new Subreaper();
  }

  public synchronized void track(Collection<Integer> pids) {
    tracked.addAll(pids);
  }

  /** A process the JDK started (and reaps): killed on close like the others, never reaped here. */
  public synchronized void trackJdkChild(Process p) {
    tracked.add((int) p.pid());
    jdkChildren.add((int) p.pid());
  }

  public synchronized boolean isTracked(int pid) {
    return tracked.contains(pid);
  }

  public static Set<Integer> descendants(int pid) {
    Set<Integer> out = new TreeSet<>();
    for (int c : ProcFs.children(pid)) {
      out.add(c);
      out.addAll(descendants(c));
    }
    return out;
  }

  /** Reaps the tracked processes re-parented to this JVM, waiting up to {@code max} for them to die. */
  public void reap(Duration max) throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    int self = (int) ProcessHandle.current().pid();
    do {
      boolean any = false;
      for (int c : ProcFs.children(self)) {
        if (isTracked(c) && !jdkChildren.contains(c)) {
          any = true;
          PidFds.reapNoHang(c);
        }
      }
      if (!any) {
        return;
      }
      Thread.sleep(20);
    } while (System.nanoTime() < deadline);
  }

  /** SIGKILLs whatever tracked process is still there, reaps them, and gives subreaping back. */
  @Override
  public void close() throws InterruptedException {
    try {
      for (int pid : Set.copyOf(tracked)) {
        if (ProcFs.exists(pid)) {
          try {
            Signals.kill(pid, Signals.SIGKILL);
          } catch (NativeException gone) {
            // exited meanwhile
          }
        }
      }
      reap(Duration.ofSeconds(10));
    } finally {
      Prctl.setChildSubreaper(wasSubreaper);
    }
  }
}
