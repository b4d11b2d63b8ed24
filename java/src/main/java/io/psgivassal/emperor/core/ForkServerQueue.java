package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.forkserver.AdoptedPidCheck;
import io.psgivassal.emperor.forkserver.AdoptionTimeoutException;
import io.psgivassal.emperor.forkserver.AttachedFds;
import io.psgivassal.emperor.forkserver.ForkServerClient;
import io.psgivassal.emperor.forkserver.ForkServerException;
import io.psgivassal.emperor.forkserver.ForkServerUnavailableException;
import io.psgivassal.emperor.forkserver.PendingAdoption;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.UnixSockets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The adoptions asked of one fork server. A fork server serves one request at a time from its
 * backlog, so at most {@code maxInFlight} requests are outstanding and the rest wait here in
 * order; nothing is ever dropped. While the fork server is not answering (not started yet, or
 * dead and being respawned) the whole queue waits and probes it with a growing delay, instead of
 * every vassal hammering a missing socket on its own; {@link #poke()} retries at once (the
 * Supervisor calls it when a base vassal reports ready). Runs on the event loop thread.
 */
final class ForkServerQueue {
  private static final Logger log = LoggerFactory.getLogger(ForkServerQueue.class);

  /** What becomes of a request. */
  interface Outcome {
    /** A process exists: {@code pipeFd}/{@code configFd} are the Emperor's ends (configFd -1 if none). */
    void adopted(Vassal v, int pid, int pipeFd, int configFd);

    /** This request failed (the fork server refused it, timed out, ...); the vassal should try again later. */
    void failed(Vassal v, String why);

    /** Is {@code pid} already a supervised vassal process? */
    boolean attached(int pid);

    /** The base processes this Emperor runs on {@code socket}, when it holds that socket itself. */
    Set<Integer> basesOn(Path socket);
  }

  /**
   * How long a fork server may stay silent before that is worth a warning: a base loading a large
   * application takes seconds, and every start meets a fork server that is not up yet. A test
   * shortens it.
   */
  static volatile Duration quietWhileLoading = Duration.ofSeconds(10);
  /** A fork server that stays silent is warned about again this often. */
  private static final long WARN_EVERY_NANOS = TimeUnit.SECONDS.toNanos(60);

  /** How often a replied pid that is not re-parented yet is looked at again. */
  private static final long REPARENT_POLL_MILLIS = 2;

  private static final class InFlight {
    final PendingAdoption pending;
    final int pipeFd;
    final int configFd;
    final EventLoop.Timer timeout;
    EventLoop.Timer recheck;

    InFlight(PendingAdoption pending, int pipeFd, int configFd, EventLoop.Timer timeout) {
      this.pending = pending;
      this.pipeFd = pipeFd;
      this.configFd = configFd;
      this.timeout = timeout;
    }
  }

  private final int emperorPid = (int) ProcessHandle.current().pid();

  private final ForkServerClient client;
  private final EventLoop loop;
  private final Outcome outcome;
  private final String binary;
  private final int maxInFlight;
  private final Duration adoptionTimeout;
  private final Backoff probeBackoff;
  private final Deque<Vassal> waiting = new ArrayDeque<>();
  private final Map<Vassal, InFlight> inFlight = new LinkedHashMap<>();
  private boolean down;
  private int failedProbes;
  /** When the current run of failed probes began, and when it was last warned about (0: not yet). */
  private long downSince;
  private long warnedAt;
  private EventLoop.Timer probeTimer;

  ForkServerQueue(Path socket, EventLoop loop, Outcome outcome, String binary, int maxInFlight,
      Duration adoptionTimeout, Duration retryInitial, Duration retryMax) {
    this.client = new ForkServerClient(socket);
    this.loop = loop;
    this.outcome = outcome;
    this.binary = binary;
    this.maxInFlight = Math.max(1, maxInFlight);
    this.adoptionTimeout = adoptionTimeout;
    this.probeBackoff = new Backoff(retryInitial, retryMax);
  }

  Path socket() {
    return client.socketPath();
  }

  void submit(Vassal v) {
    waiting.addLast(v);
    pump();
  }

  /** Forgets {@code v}'s request; an in-flight one is abandoned (its vassal sees EOF and exits). */
  void cancel(Vassal v) {
    if (!waiting.remove(v)) {
      InFlight f = inFlight.remove(v);
      if (f != null) {
        finish(f);
        FileDescriptors.closeQuietly(f.pipeFd);
        FileDescriptors.closeQuietly(f.configFd);
        pump();
      }
    }
  }

  /** The fork server may be up now: stop waiting for the next probe. */
  void poke() {
    if (down) {
      if (probeTimer != null) {
        probeTimer.cancel();
        probeTimer = null;
      }
      probeBackoff.reset();
      down = false;
      pump();
    }
  }

  boolean hasInFlight() {
    return !inFlight.isEmpty();
  }

  int waitingCount() {
    return waiting.size() + inFlight.size();
  }

  private void pump() {
    while (!down && inFlight.size() < maxInFlight && !waiting.isEmpty()) {
      send(waiting.pollFirst());
    }
  }

  private void send(Vassal v) {
    boolean config = v.spec.config() instanceof VassalSpec.TextConfig;
    int[] pipe;
    int[] cfg = null;
    try {
      pipe = UnixSockets.socketPair();
      if (config) {
        try {
          cfg = UnixSockets.socketPair();
        } catch (NativeException e) {
          FileDescriptors.closeQuietly(pipe[0]);
          FileDescriptors.closeQuietly(pipe[1]);
          throw e;
        }
      }
    } catch (NativeException e) {
      outcome.failed(v, e.getMessage()); // EMFILE and the like: may clear up
      return;
    }
    AttachedFds fds = AttachedFds.of(pipe[1], cfg == null ? -1 : cfg[1], v.listenFd());
    PendingAdoption pending;
    try {
      pending = client.send(v.argv(binary), fds);
    } catch (ForkServerUnavailableException e) {
      closeAll(pipe, cfg);
      waiting.addFirst(v);
      markDown(e.getMessage());
      return;
    } catch (ForkServerException e) {
      closeAll(pipe, cfg);
      outcome.failed(v, e.getMessage());
      return;
    }
    if (failedProbes > 0) {
      log.info("fork server {} answers, after {} ms", socket(), (System.nanoTime() - downSince) / 1_000_000);
      failedProbes = 0;
    }
    probeBackoff.reset();
    // The fork server holds its own references now; ours would keep the pipes from reporting EOF
    // when the vassal goes away.
    FileDescriptors.closeQuietly(pipe[1]);
    if (cfg != null) {
      FileDescriptors.closeQuietly(cfg[1]);
    }
    EventLoop.Timer timeout = loop.schedule(adoptionTimeout.toMillis(), TimeUnit.MILLISECONDS,
        () -> fail(v, new AdoptionTimeoutException(adoptionTimeout).getMessage()));
    inFlight.put(v, new InFlight(pending, pipe[0], cfg == null ? -1 : cfg[0], timeout));
    loop.register(pending.fd(), Epoll.EPOLLIN | Epoll.EPOLLRDHUP, events -> onReply(v));
  }

  private void onReply(Vassal v) {
    InFlight f = inFlight.get(v);
    if (f == null) {
      return;
    }
    OptionalInt pid;
    try {
      pid = f.pending.onReadable();
    } catch (ForkServerException e) {
      fail(v, e.getMessage());
      return;
    }
    if (pid.isPresent()) {
      loop.unregister(f.pending.fd());
      check(v, f, pid.getAsInt(), System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(AdoptedPidCheck.REPARENT_WAIT_MILLIS));
    }
  }

  /** Attaches the replied pid only once it is provably the adoption (see {@link AdoptedPidCheck}). */
  private void check(Vassal v, InFlight f, int pid, long deadline) {
    f.recheck = null;
    if (inFlight.get(v) != f) {
      return;
    }
    // SO_PEERCRED names whoever called listen(): this process for a socket the Emperor holds,
    // whose fork servers are the bases it spawned on it (none: this process really listens)
    Set<Integer> bases = f.pending.forkServerPid() == emperorPid ? outcome.basesOn(socket()) : Set.of();
    Set<Integer> servers = bases.isEmpty() ? Set.of(f.pending.forkServerPid()) : bases;
    AdoptedPidCheck.Verdict verdict = AdoptedPidCheck.judge(pid, servers, emperorPid, outcome::attached, ProcFs::stat);
    if (verdict instanceof AdoptedPidCheck.Wait w && System.nanoTime() < deadline) {
      f.recheck = loop.schedule(REPARENT_POLL_MILLIS, TimeUnit.MILLISECONDS, () -> check(v, f, pid, deadline));
      return;
    }
    if (verdict instanceof AdoptedPidCheck.Accept) {
      inFlight.remove(v);
      finish(f);
      outcome.adopted(v, pid, f.pipeFd, f.configFd);
      pump();
      return;
    }
    String why = verdict instanceof AdoptedPidCheck.Refuse r ? r.why()
        : ((AdoptedPidCheck.Wait) verdict).why() + " after " + AdoptedPidCheck.REPARENT_WAIT_MILLIS + " ms";
    log.warn("vassal {}: fork server {} replied with pid {}, refused: {}; nothing was attached or signalled",
        v.label(), socket(), pid, why);
    fail(v, "refused its pid reply (" + why + ")");
  }

  private void fail(Vassal v, String why) {
    InFlight f = inFlight.remove(v);
    if (f == null) {
      return;
    }
    finish(f);
    FileDescriptors.closeQuietly(f.pipeFd);
    FileDescriptors.closeQuietly(f.configFd);
    outcome.failed(v, "fork server " + socket() + ": " + why);
    pump();
  }

  private void finish(InFlight f) {
    f.timeout.cancel();
    if (f.recheck != null) {
      f.recheck.cancel();
      f.recheck = null;
    }
    loop.unregister(f.pending.fd());
    f.pending.close();
  }

  private void markDown(String why) {
    down = true;
    failedProbes++;
    long now = System.nanoTime();
    if (failedProbes == 1) {
      downSince = now;
      warnedAt = 0;
    }
    long delay = probeBackoff.nextDelayMillis();
    long downMillis = (now - downSince) / 1_000_000;
    if (failedProbes == 1) {
      // every start meets this: the base vassal is still loading its code
      log.info("fork server {}: waiting for {} to load; {} adoption(s) wait for it", socket(),
          outcome.basesOn(socket()).isEmpty() ? "it" : "its base", waitingCount());
    } else if (downMillis >= quietWhileLoading.toMillis() && (warnedAt == 0 || now - warnedAt >= WARN_EVERY_NANOS)) {
      warnedAt = now;
      log.warn("fork server {} has not answered for {} s ({}); {} adoption(s) wait for it, next try in {} ms",
          socket(), downMillis / 1000, why, waitingCount(), delay);
    } else {
      log.debug("fork server {} still not answering ({}); next try in {} ms", socket(), why, delay);
    }
    probeTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> {
      probeTimer = null;
      down = false;
      pump();
    });
  }

  /** Abandons everything (the Emperor stops). */
  void close() {
    if (probeTimer != null) {
      probeTimer.cancel();
    }
    for (Map.Entry<Vassal, InFlight> e : inFlight.entrySet()) {
      finish(e.getValue());
      FileDescriptors.closeQuietly(e.getValue().pipeFd);
      FileDescriptors.closeQuietly(e.getValue().configFd);
    }
    inFlight.clear();
    waiting.clear();
  }

  private static void closeAll(int[] pipe, int[] cfg) {
    FileDescriptors.closeQuietly(pipe[0]);
    FileDescriptors.closeQuietly(pipe[1]);
    if (cfg != null) {
      FileDescriptors.closeQuietly(cfg[0]);
      FileDescriptors.closeQuietly(cfg[1]);
    }
  }
}
