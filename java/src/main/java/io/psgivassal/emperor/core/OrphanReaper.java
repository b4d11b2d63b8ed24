package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.ExitStatus;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reaps children of the JVM that nobody else waits for.
 *
 * <p>Because the JVM is a child subreaper, every process orphaned below it re-parents to the JVM:
 * the workers of a vassal master killed with SIGKILL, a fork server's grandchild whose adoption
 * was abandoned, the background children of a hook or of a command the host ran with
 * ProcessBuilder. Nobody waits for those, so they would stay zombies forever. We may not
 * waitpid(-1): the JDK reaps its own {@code Process} children by pid and would lose their exit
 * status, and a vassal's status belongs to its pidfd handler.
 *
 * <p>The rule: a zombie child that is not a vassal is reaped by its own pid (P_PID) once it has
 * been seen as a zombie in two consecutive scans. A JDK child never stays a zombie that long: the
 * JDK's reaper thread is already blocked in waitpid(pid) for it, and the kernel completes that
 * wait the moment the child exits. Vassals are skipped by pid; a fork server's grandchild whose
 * pid reply is still unread is a live process, not a zombie, until it exits.
 *
 * <p>When the Emperor stops, live children in the session of one of its vassals are killed:
 * every vassal is spawned with setsid (and adopted ones live in their base vassal's session), so
 * those descend from its vassals, while ProcessBuilder children of the host share the JVM's
 * session and are left alone.
 */
final class OrphanReaper {
  private static final Logger log = LoggerFactory.getLogger(OrphanReaper.class);

  private final int selfPid;
  private final int ownSession;
  /** Zombies seen by the previous scan. */
  private Set<Integer> zombiesSeen = new HashSet<>();

  OrphanReaper(int selfPid, int ownSession) {
    this.selfPid = selfPid;
    this.ownSession = ownSession;
  }

  /** {@link #reapZombies(Set, Set)} without vassal sessions: every zombie waits for a second look. */
  int reapZombies(Set<Integer> vassalPids) {
    return reapZombies(vassalPids, Set.of());
  }

  /**
   * One scan: reaps the non-vassal zombies already seen last time, and at once those in the
   * session of one of this Emperor's vassals (a vassal's orphaned worker: no JDK {@code Process}
   * lives there, the JDK's children share the JVM's session); returns how many.
   */
  int reapZombies(Set<Integer> vassalPids, Set<Integer> vassalSessions) {
    publish(vassalPids);
    int reaped = 0;
    Set<Integer> now = new HashSet<>();
    for (int child : ProcFs.children(selfPid)) {
      if (vassalPids.contains(child) || supervisedElsewhere(child)) {
        continue;
      }
      Optional<ProcFs.Stat> st = ProcFs.stat(child);
      if (st.isEmpty() || !st.get().zombie()) {
        continue;
      }
      boolean vassalSession = st.get().session() != ownSession && vassalSessions.contains(st.get().session());
      if (vassalSession || zombiesSeen.contains(child)) {
        if (reap(child)) {
          reaped++;
        }
      } else {
        now.add(child);
      }
    }
    zombiesSeen = now;
    return reaped;
  }

  /**
   * Reaps only the zombies in a vassal's session (a vassal's orphaned workers), and leaves the
   * two-look bookkeeping of the periodic scan alone: two looks milliseconds apart could take a
   * JDK child's exit status before the JDK's reaper thread collects it.
   */
  int reapVassalOrphans(Set<Integer> vassalPids, Set<Integer> vassalSessions) {
    int reaped = 0;
    for (int child : ProcFs.children(selfPid)) {
      if (!vassalPids.contains(child) && !supervisedElsewhere(child)) {
        Optional<ProcFs.Stat> st = ProcFs.stat(child);
        if (st.isPresent() && st.get().zombie() && st.get().session() != ownSession
            && vassalSessions.contains(st.get().session()) && reap(child)) {
          reaped++;
        }
      }
    }
    return reaped;
  }

  /**
   * The vassal pids of every Emperor in this JVM, as each last published them: all of them share
   * the one subreaper, so one Emperor's scan sees another's dead vassal as a zombie child too,
   * and must leave its status to that Emperor's pidfd even when that Emperor's loop is slow.
   */
  private static final java.util.concurrent.ConcurrentHashMap<OrphanReaper, Set<Integer>> PUBLISHED =
      new java.util.concurrent.ConcurrentHashMap<>();

  private void publish(Set<Integer> vassalPids) {
    PUBLISHED.put(this, Set.copyOf(vassalPids));
  }

  private boolean supervisedElsewhere(int pid) {
    for (Map.Entry<OrphanReaper, Set<Integer>> e : PUBLISHED.entrySet()) {
      if (e.getKey() != this && e.getValue().contains(pid)) {
        return true;
      }
    }
    return false;
  }

  /** This Emperor is gone: its vassals no longer shield anything. */
  void retire() {
    PUBLISHED.remove(this);
  }

  private static boolean reap(int pid) {
    Optional<ExitStatus> status = PidFds.reapNoHang(pid);
    if (status.isPresent()) {
      log.debug("reaped orphan pid {} ({})", pid, status.get());
      return true;
    }
    return false;
  }

  /**
   * Live children in one of {@code sessions} (those of this Emperor's vassals) not in
   * {@code vassalPids}: descendants of vassals whose own vassal is gone. Another Emperor in the
   * same JVM has sessions of its own, so its vassals are never taken for ours.
   */
  List<Integer> liveOrphans(Set<Integer> vassalPids, Set<Integer> sessions) {
    List<Integer> out = new ArrayList<>();
    for (int child : ProcFs.children(selfPid)) {
      if (!vassalPids.contains(child)) {
        ProcFs.stat(child).filter(s -> !s.zombie() && s.session() != ownSession && sessions.contains(s.session()))
            .ifPresent(s -> out.add(child));
      }
    }
    return out;
  }

  /**
   * At shutdown: SIGKILLs the live vassal descendants (round after round, as each death
   * re-parents its own children to us) and reaps them and every foreign-session zombie, waiting
   * at most {@code maxMillis}; then reaps the JVM-session zombies that stay zombies across two
   * looks half a second apart (see the class comment).
   */
  void killOrphans(Set<Integer> vassalPids, Set<Integer> sessions, long maxMillis) throws InterruptedException {
    long deadline = System.nanoTime() + maxMillis * 1_000_000;
    List<Integer> orphans;
    while (!(orphans = liveOrphans(vassalPids, sessions)).isEmpty() && System.nanoTime() < deadline) {
      for (int pid : orphans) {
        log.info("killing orphaned vassal descendant pid {}", pid);
        try {
          // safe by pid: it is our unreaped child, so the number cannot have been recycled
          Signals.kill(pid, Signals.SIGKILL);
        } catch (NativeException e) {
          log.debug("kill({}) failed: {}", pid, e.getMessage());
        }
      }
      for (int pid : orphans) {
        while (PidFds.reapNoHang(pid).isEmpty() && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
      }
    }
    for (int child : ProcFs.children(selfPid)) {
      if (!vassalPids.contains(child)) {
        ProcFs.stat(child).filter(s -> s.zombie() && sessions.contains(s.session())).ifPresent(s -> reap(child));
      }
    }
    reapZombies(vassalPids);
    if (!zombiesSeen.isEmpty()) {
      Thread.sleep(500);
      reapZombies(vassalPids);
    }
  }
}
