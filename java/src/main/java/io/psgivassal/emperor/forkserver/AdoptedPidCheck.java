package io.psgivassal.emperor.forkserver;

import io.psgivassal.emperor.natives.ProcFs;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntFunction;
import java.util.function.IntPredicate;

/**
 * Whether the pid a fork server replied with is the vassal it forked for this Emperor. The reply
 * is only a number written by a process that runs application code; taken on trust, an Emperor
 * (perhaps root) would watch, curse and SIGKILL whatever process it names, and kill its session
 * at shutdown. A genuine adoption is the fork server's grandchild: still in the fork server's
 * session (a double fork keeps it), and, once the first child has exited, re-parented to the
 * Emperor as its subreaper. The fork server's own pid comes from the kernel (SO_PEERCRED on the
 * request's connection), not from anything it says; when the Emperor holds the fork-server
 * socket itself (SO_PEERCRED then names the Emperor), the fork servers are the base processes it
 * spawned on that socket.
 */
public final class AdoptedPidCheck {
  /** How long a pid may stay a child of the first child before it counts as not re-parented. */
  public static final long REPARENT_WAIT_MILLIS = 1000;

  /** What to do with a replied pid. */
  public sealed interface Verdict permits Accept, Wait, Refuse {}

  /** It is the adoption: attach it. */
  public record Accept() implements Verdict {}

  /** Not re-parented to the Emperor yet (the first child is still exiting): ask again shortly. */
  public record Wait(String why) implements Verdict {}

  /** Not the adoption: attach nothing, signal nothing. */
  public record Refuse(String why) implements Verdict {}

  private AdoptedPidCheck() {}

  /** {@link #judge(int, Set, int, IntPredicate, IntFunction)} for one fork-server process. */
  public static Verdict judge(int pid, int forkServerPid, int emperorPid, IntPredicate attached,
      IntFunction<Optional<ProcFs.Stat>> stat) {
    return judge(pid, Set.of(forkServerPid), emperorPid, attached, stat);
  }

  /**
   * @param pid what the fork server replied
   * @param forkServerPids the processes that may have answered: the listening one from
   *     SO_PEERCRED (0: unknown, another pid namespace), or the bases on a socket the Emperor holds
   * @param emperorPid this process
   * @param attached pids the Emperor already supervises (another vassal must not be named twice)
   * @param stat /proc/PID/stat of a process, empty if there is none
   */
  public static Verdict judge(int pid, Set<Integer> forkServerPids, int emperorPid, IntPredicate attached,
      IntFunction<Optional<ProcFs.Stat>> stat) {
    if (pid <= 1 || pid == emperorPid) {
      return new Refuse("it names pid " + pid + ", which cannot be a vassal");
    }
    if (forkServerPids.isEmpty() || forkServerPids.stream().anyMatch(p -> p <= 0)) {
      return new Refuse("the fork server's pid is unknown to the kernel here (another pid namespace?), so pid "
          + pid + " cannot be checked");
    }
    if (forkServerPids.contains(pid)) {
      return new Refuse("it names its own pid " + pid);
    }
    if (attached.test(pid)) {
      return new Refuse("it names pid " + pid + ", which is already a vassal of this Emperor");
    }
    Set<Integer> sessions = new TreeSet<>();
    for (int server : forkServerPids) {
      stat.apply(server).ifPresent(st -> sessions.add(st.session()));
    }
    if (sessions.isEmpty()) {
      return new Refuse("the fork server (pid " + describe(forkServerPids) + ") is gone");
    }
    Optional<ProcFs.Stat> st = stat.apply(pid);
    if (st.isEmpty()) {
      return new Refuse("it names pid " + pid + ", which does not exist");
    }
    if (!sessions.contains(st.get().session())) {
      return new Refuse("it names pid " + pid + ", which is in session " + st.get().session()
          + ", not in the fork server's session " + describe(sessions));
    }
    if (st.get().ppid() != emperorPid) {
      return new Wait("pid " + pid + " has parent " + st.get().ppid() + ", not the Emperor (pid " + emperorPid + ")");
    }
    return new Accept();
  }

  private static String describe(Set<Integer> ids) {
    return ids.size() == 1 ? ids.iterator().next().toString() : ids.toString();
  }
}
