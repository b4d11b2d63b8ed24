package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.ExitStatus;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reaps children of the JVM that are not vassals.
 *
 * <p>Because the JVM is a child subreaper, every process orphaned below a vassal (for instance
 * the workers of a vassal master killed with SIGKILL) re-parents to the JVM, and would stay a
 * zombie forever since nobody waits for it. We may not waitpid(-1): the JDK reaps its own
 * {@code Process} children by pid and would lose their exit status. The rule that tells the two
 * apart: every vassal is spawned with POSIX_SPAWN_SETSID, so anything descending from a vassal
 * lives in a session other than the JVM's, while ProcessBuilder children inherit the JVM's
 * session. Only children in a foreign session are reaped, each by its own pid (P_PID); the pids
 * of known vassals are skipped because their pidfd handler reaps them and reports the status.
 */
final class OrphanReaper {
  private static final Logger log = LoggerFactory.getLogger(OrphanReaper.class);

  private final int selfPid;
  private final int ownSession;

  OrphanReaper(int selfPid, int ownSession) {
    this.selfPid = selfPid;
    this.ownSession = ownSession;
  }

  /** Reaps foreign-session zombie children not in {@code vassalPids}; returns how many. */
  int reapZombies(Set<Integer> vassalPids) {
    int reaped = 0;
    for (int child : ProcFs.children(selfPid)) {
      if (vassalPids.contains(child)) {
        continue;
      }
      Optional<ProcFs.Stat> st = ProcFs.stat(child);
      if (st.isPresent() && st.get().zombie() && isOrphanOfVassal(st.get())) {
        Optional<ExitStatus> status = PidFds.reapNoHang(child);
        if (status.isPresent()) {
          reaped++;
          log.debug("reaped orphan pid {} ({})", child, status.get());
        }
      }
    }
    return reaped;
  }

  /**
   * Live foreign-session children not in {@code vassalPids}: descendants of vassals whose own
   * vassal is gone. Used when the Emperor stops, so nothing it spawned outlives it.
   */
  List<Integer> liveOrphans(Set<Integer> vassalPids) {
    List<Integer> out = new ArrayList<>();
    for (int child : ProcFs.children(selfPid)) {
      if (!vassalPids.contains(child)) {
        ProcFs.stat(child).filter(s -> !s.zombie() && isOrphanOfVassal(s)).ifPresent(s -> out.add(child));
      }
    }
    return out;
  }

  /** SIGKILLs and reaps the live orphans, waiting at most {@code maxMillis} for them. */
  void killOrphans(Set<Integer> vassalPids, long maxMillis) throws InterruptedException {
    List<Integer> orphans = liveOrphans(vassalPids);
    for (int pid : orphans) {
      log.info("killing orphaned vassal descendant pid {}", pid);
      try {
        // safe by pid: it is our unreaped child, so the number cannot have been recycled
        Signals.kill(pid, Signals.SIGKILL);
      } catch (NativeException e) {
        log.debug("kill({}) failed: {}", pid, e.getMessage());
      }
    }
    long deadline = System.nanoTime() + maxMillis * 1_000_000;
    for (int pid : orphans) {
      while (PidFds.reapNoHang(pid).isEmpty() && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
    }
    reapZombies(vassalPids);
  }

  private boolean isOrphanOfVassal(ProcFs.Stat st) {
    return st.session() != ownSession;
  }
}
