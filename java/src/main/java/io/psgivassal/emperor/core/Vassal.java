package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runtime state of one vassal across all its processes. Owned by the event loop thread: only the
 * loop reads or writes it; other threads see {@link VassalView} snapshots.
 *
 * <p>Its life cycle (state, intent, the flags its process reports, which process is current and
 * which generation serves meanwhile, the start counters) changes only through the transitions in
 * its "life cycle" section, each state change checked against {@link VassalState#canMoveTo}: the
 * Supervisor and its helpers decide, the transitions keep the bookkeeping consistent, and a unit
 * test can drive them without a process.
 */
final class Vassal {
  private static final Logger log = LoggerFactory.getLogger(Vassal.class);
  private static final int[] OWN_IDS = ownIds();

  final String monitor;
  final Backoff backoff;
  VassalSpec spec;
  /** The spec to start with once the current process is gone (Intent.REPLACE). */
  VassalSpec nextSpec;
  /** What was read of {@link #nextSpec}'s config. */
  ConfigFacts nextFacts;
  /** What was read of {@link #spec}'s config. */
  ConfigFacts facts;
  Instant lastModified;
  int uid;
  int gid;
  Optional<URI> httpUrl = Optional.empty();

  private VassalState state;
  private Intent intent = Intent.RUN;
  /** The current process, or null. */
  VassalInstance proc;
  /** The start in progress, or null. */
  StartAttempt start;
  /** How the current (or last) process was obtained. */
  boolean adopted;
  Optional<Path> forkServer = Optional.empty();
  /** An on-demand vassal's socket, bound by the Emperor and kept across processes. */
  BoundSocket onDemandSocket;
  /** Whether the gate should be open (waiting on the socket): set by open, cleared by pause and close. */
  boolean gateWanted;
  /** The on-demand address whose host name is being resolved off the loop, if any. */
  ListenAddress resolving;
  /** The on-demand address last resolved, and what it resolved to. */
  ListenAddress resolvedFor;
  java.net.InetAddress resolvedIp;
  /** The one socket its config names, to be held by the Emperor; empty: the vassal binds its own. */
  Optional<ListenAddress> heldAddress = Optional.empty();
  /** Why the config's socket is not held, or null; and the last such reason logged. */
  String unheldReason;
  String unheldLogged;
  /** The mode of a held UNIX socket: 0666 with chmod-socket (as the vassal would), 0600 for a fork server's. */
  String heldUnixMode;
  /** The fork-server socket this vassal runs, if it is a base vassal (its config's fork-server, absolute). */
  Optional<Path> servesForkServer = Optional.empty();
  /** A base that rebinds its fork-server socket itself (uWSGI's fork server): never held again. */
  boolean refusesHeldSocket;
  /** Which generation of its base forked this vassal's process (adopted vassals); 0 if unknown. */
  int baseGeneration;
  /** For a base vassal: the generation its current process runs (1 at the first start, +1 per deploy). */
  int generation;
  /** For a base vassal: the generation its next process will run. */
  int nextGeneration = 1;
  /** The held socket, bound by the Emperor and handed to every generation. */
  BoundSocket heldSocket;
  /**
   * The generation that keeps serving while its successor ({@link #proc}) starts with the same
   * held socket; it is stopped gracefully once the successor accepts, and takes over again if the
   * successor dies before that.
   */
  VassalInstance predecessor;
  boolean predecessorLoyal;
  boolean watchingSocket;
  /** Waits before a respawn, a socket re-bind, ... */
  EventLoop.Timer waitTimer;

  boolean ready;
  boolean accepting;
  boolean loyal;
  Instant lastReady;
  Instant lastAccepting;
  Instant lastLoyal;
  Instant lastHeartbeat;
  long lastHeartbeatNanos;
  Instant firstRun;
  Instant lastRun;
  int respawns;
  int starts;
  /** The last process died of a reload: the next start is its continuation, not a respawn. */
  boolean lastDeathWasReload;
  /** Consecutive failed start attempts, for log throttling. */
  int failures;

  Vassal(String monitor, VassalSpec spec, Instant lastModified, Duration backoffInitial, Duration backoffMax) {
    this(monitor, spec, lastModified, ConfigFacts.of(spec), backoffInitial, backoffMax);
  }

  Vassal(String monitor, VassalSpec spec, Instant lastModified, ConfigFacts facts, Duration backoffInitial,
      Duration backoffMax) {
    this.monitor = monitor;
    this.backoff = new Backoff(backoffInitial, backoffMax);
    this.state = VassalState.DEAD;
    update(spec, lastModified, facts);
  }

  /**
   * Takes a new spec and what was read of its config ({@link ConfigFacts#of}, on the I/O thread
   * for a file): no file-system access here, since this runs on the event loop.
   */
  void update(VassalSpec newSpec, Instant modified, ConfigFacts facts) {
    this.spec = newSpec;
    this.lastModified = modified;
    this.facts = facts;
    this.uid = facts.uid();
    this.gid = facts.gid();
    this.httpUrl = facts.ini().httpUrl();
    deriveHeldAddress(facts.ini());
  }

  String name() {
    return spec.name();
  }

  int pid() {
    return proc == null ? 0 : proc.pid;
  }

  boolean adopted() {
    return adopted;
  }

  boolean alive() {
    return proc != null;
  }

  VassalState state() {
    return state;
  }

  /** What the Emperor wants of the current process; decides what its death leads to. */
  Intent intent() {
    return intent;
  }

  /** Whether the vassal is on-demand (waits on a socket instead of running all the time). */
  boolean onDemand() {
    return spec.onDemand().isPresent();
  }

  /**
   * The listening socket the Emperor hands to the next process as fd 0 (on-demand descriptor,
   * mask 0x04): the on-demand socket, else the held one; -1 if none.
   */
  int listenFd() {
    if (onDemandSocket != null) {
      return onDemandSocket.fd();
    }
    return heldSocket == null ? -1 : heldSocket.fd();
  }

  /**
   * Which of the config's sockets the Emperor can hold: exactly one socket or http-socket, TCP or
   * an absolute UNIX path. Sets {@link #heldAddress} and {@link #unheldReason}.
   */
  private void deriveHeldAddress(UwsgiIni ini) {
    heldAddress = Optional.empty();
    unheldReason = null;
    heldUnixMode = ini.get("chmod-socket").isPresent() ? "rw-rw-rw-" : null;
    servesForkServer = ini.get("fork-server").map(Path::of).filter(Path::isAbsolute).map(Path::normalize);
    List<String> sockets = ini.sockets();
    if (servesForkServer.isPresent()) {
      if (!sockets.isEmpty()) {
        unheldReason = "a base vassal with sockets besides its fork server cannot be handed both as fd 0";
      } else if (!refusesHeldSocket) {
        heldAddress = Optional.of(ListenAddress.unix(servesForkServer.get()));
        heldUnixMode = "rw-------"; // what psgi-vassal gives its own fork-server socket
      }
      return;
    }
    if (sockets.isEmpty() || spec.onDemand().isPresent()) {
      return;
    }
    if (sockets.size() > 1) {
      unheldReason = "its config names " + sockets.size() + " sockets, and only one travels as fd 0";
      return;
    }
    String s = sockets.get(0);
    if (s.startsWith("fd://")) {
      return; // it serves a descriptor it inherits already
    }
    if (s.contains(",") || s.contains("=")) {
      unheldReason = "socket '" + s + "' has options the Emperor does not bind";
      return;
    }
    try {
      ListenAddress a = ListenAddress.parse(s);
      if (Addresses.needsResolver(a)) {
        // resolving runs on the event loop here, and a slow resolver would stall every vassal
        unheldReason = "socket '" + s + "' names a host, which the Emperor does not resolve on its loop"
            + " (an address literal such as 127.0.0.1 is held)";
        return;
      }
      if (!a.isTcp() && !Path.of(s).isAbsolute()) {
        unheldReason = "UNIX socket '" + s + "' is relative to the vassal's directory";
        return;
      }
      heldAddress = Optional.of(a);
    } catch (IllegalArgumentException e) {
      unheldReason = e.getMessage();
    }
  }

  /** The argv uWSGI's Emperor builds: [binary, --ini|--xml|..., config name or emperor://NAME]. */
  List<String> argv(String binary) {
    return List.of(binary, spec.configFlag(), spec.configArgument());
  }

  /** What hooks get as UWSGI_VASSAL_CONFIG: the config file, or emperor://NAME. */
  String configDescription() {
    return spec.configArgument();
  }

  /** "app1.ini (pid 1234, adopted)", or just "app1.ini" without a process: how every log line names a vassal. */
  String label() {
    int pid = pid();
    return pid > 0 ? spec.name() + " (pid " + pid + ", " + (adopted ? "adopted" : "spawned") + ")" : spec.name();
  }

  VassalView view(boolean blacklisted) {
    return new VassalView(spec.name(), monitor, spec.configPath(), adopted, forkServer, state, pid(),
        ready, accepting, loyal, respawns,
        Optional.ofNullable(proc == null ? null : proc.born), Optional.ofNullable(lastModified),
        Optional.ofNullable(lastHeartbeat), Optional.ofNullable(lastReady), Optional.ofNullable(lastAccepting),
        Optional.ofNullable(lastLoyal), Optional.ofNullable(firstRun), Optional.ofNullable(lastRun),
        Optional.ofNullable(proc == null ? null : proc.cursedAt), spec.onDemand().map(ListenAddress::text),
        blacklisted, uid, gid, spec.attributes(), httpUrl, servesForkServer.isPresent() && !adopted ? generation : 0,
        adopted ? baseGeneration : 0);
  }

  // ---- the life cycle: every change of state, intent, flags and current process ----

  /**
   * A start begins: until a process exists the vassal shows how it is obtained, since a fork
   * server that is down keeps an adoption waiting while a spawn never waits.
   */
  void startAttempt(StartAttempt a) {
    start = a;
    adopted = a.adopted();
    forkServer = a.forkServer;
    moveTo(a.adopted() ? VassalState.ADOPTING : VassalState.SPAWNING);
  }

  /**
   * A process exists and is watched from now on. Its flags start over, since each process must
   * report for itself; a process that continues a reload is not counted as a respawn.
   *
   * @return whether it continues a reload (rather than replacing a process that failed)
   */
  boolean processStarted(VassalInstance p, Instant now) {
    boolean continuation = lastDeathWasReload;
    lastDeathWasReload = false;
    starts++;
    if (starts > 1 && !continuation) {
      respawns++;
    }
    proc = p;
    clearFlags();
    lastHeartbeat = null;
    lastHeartbeatNanos = 0;
    moveTo(VassalState.RUNNING);
    if (firstRun == null) {
      firstRun = now;
    }
    lastRun = now;
    return continuation;
  }

  /**
   * 1 arrived: its master has its workers.
   *
   * @return whether this process said so for the first time (only then is it an event)
   */
  boolean reportedReady(Instant now) {
    boolean first = !ready;
    ready = true;
    lastReady = now;
    return first;
  }

  /** 5 arrived: a worker accepts. @return whether for the first time in this process */
  boolean reportedAccepting(Instant now) {
    boolean first = !accepting;
    accepting = true;
    lastAccepting = now;
    return first;
  }

  /** 17 arrived: it served a request, which is what takes it off the blacklist. @return whether for the first time */
  boolean reportedLoyal(Instant now) {
    boolean first = !loyal;
    loyal = true;
    lastLoyal = now;
    return first;
  }

  /**
   * Moves the state to what the process reported, if that is further on: messages may come late or
   * twice, and a process being stopped (or not yet running) reports no progress.
   *
   * @return whether the state moved
   */
  boolean progressTo(VassalState next) {
    if (!state.isBefore(next) || !state.isUp()) {
      return false;
    }
    moveTo(next);
    return true;
  }

  /** 26 arrived. @return whether it is the first since the process started or its last silence was judged */
  boolean heartbeat(Instant now, long nanos) {
    boolean first = lastHeartbeat == null;
    lastHeartbeat = now;
    lastHeartbeatNanos = nanos;
    return first;
  }

  /** Its silence was judged: one silence is punished once, however long it lasts. */
  void silenceNoticed() {
    lastHeartbeat = null;
  }

  /** Its process is on its way out (told to stop, cursed or killed): nothing it reports counts any more. */
  void condemned() {
    moveTo(VassalState.STOPPING);
  }

  /** What the Emperor wants once the current process is gone; see {@link Intent}. */
  void intend(Intent next) {
    intent = next;
  }

  /**
   * A reload in place is asked for (1 sent, or about to be): counted as a respawn now, since the
   * process that comes back continues this one and is not counted again.
   */
  void reloading(Instant now) {
    intent = Intent.RELOAD;
    respawns++;
    lastRun = now;
  }

  /** The reload byte went out: the process starts its workers over, so it must report ready and accepting again. */
  void reloadSent() {
    ready = false;
    accepting = false;
    moveTo(VassalState.RUNNING);
  }

  /**
   * The current process died. Whatever the Emperor wanted of it is done with, except a removal or
   * a shutdown, which last until the vassal is forgotten; a reload's death is its continuation.
   *
   * @return what the Emperor wanted of the process, which decides what follows
   */
  Intent died() {
    Intent was = intent;
    clearFlags();
    lastHeartbeat = null;
    if (was == Intent.RELOAD) {
      lastDeathWasReload = true; // a reload, not a failure: never blacklisted, back at once
    }
    if (was != Intent.REMOVE && was != Intent.SHUTDOWN) {
      intent = Intent.RUN;
    }
    processGone();
    return was;
  }

  /** No process any more, with nothing to follow (the Emperor's last resort after its loop failed). */
  void processGone() {
    proc = null;
    moveTo(VassalState.DEAD);
  }

  /** It died before it ever accepted: it failed to start, and waits out its blacklist throttle. */
  void throttled() {
    moveTo(VassalState.THROTTLED);
  }

  /** It died of its own idle request: it stays stopped until its config changes. */
  void idled() {
    moveTo(VassalState.IDLE);
  }

  /** No process, and none until a connection arrives on its socket. */
  void waitingOnSocket() {
    moveTo(VassalState.ON_DEMAND);
  }

  /**
   * The Emperor stops: whatever the vassal waited for (a start, a throttle, a connection) is off,
   * so one without a process is done already.
   */
  void shuttingDown() {
    intent = Intent.SHUTDOWN;
    if (proc == null) {
      moveTo(VassalState.DEAD);
    }
  }

  /**
   * A next generation is about to start while the current process keeps serving: that process
   * becomes the predecessor (with its loyalty, for if it has to take over again), unless a
   * predecessor serves already and the current process is only a successor that never accepted.
   * The next process continues this one, so it is a respawn now and not a failure later.
   */
  void nextGenerationStarting(Instant now) {
    if (predecessor == null) {
      predecessor = proc;
      predecessorLoyal = loyal;
    }
    proc = null;
    respawns++;
    lastRun = now;
    lastDeathWasReload = true; // the next process continues this one: no respawn, no blame
    clearFlags();
  }

  /**
   * The next generation died before it accepted: the predecessor is current again, with the flags
   * it had (it accepted all along, or it would not have been kept).
   *
   * @return the predecessor, current again
   */
  VassalInstance predecessorRestored() {
    VassalInstance back = predecessor;
    predecessor = null;
    proc = back;
    lastDeathWasReload = false;
    ready = true;
    accepting = true;
    loyal = predecessorLoyal;
    moveTo(loyal ? VassalState.LOYAL : VassalState.ACCEPTING);
    return back;
  }

  /** A base's restored generation adopts on: its fork server never stopped serving, which is a base's loyalty. */
  void keepsAdopting() {
    moveTo(VassalState.LOYAL);
  }

  /**
   * The predecessor is no longer the vassal's: its successor accepts, the vassal is going away, or
   * it died. The caller stops it (or has buried it).
   *
   * @return the predecessor, or null
   */
  VassalInstance letPredecessorGo() {
    VassalInstance old = predecessor;
    predecessor = null;
    return old;
  }

  /** Another failed try (spawn, adoption, bind). @return how long to wait before the next one */
  long attemptFailed() {
    failures++;
    return backoff.nextDelayMillis();
  }

  /** The first failure and every 20th are worth a warning: a vassal failing for hours must not flood the log. */
  boolean failureWorthLogging() {
    return failures == 1 || failures % 20 == 0;
  }

  /** A try worked: the next failure is a first one again, and waits the shortest time. */
  void attemptSucceeded() {
    failures = 0;
    backoff.reset();
  }

  private void clearFlags() {
    ready = false;
    accepting = false;
    loyal = false;
  }

  /** Every state change passes here: a move the table lacks is a bug to see in the log, never a crash. */
  private void moveTo(VassalState next) {
    if (!state.canMoveTo(next)) {
      log.error("vassal {}: illegal state transition {} -> {}", name(), state, next);
    }
    state = next;
  }

  static int ownUid() {
    return OWN_IDS[0];
  }

  static int ownGid() {
    return OWN_IDS[1];
  }

  private static int[] ownIds() {
    try {
      Path self = Path.of("/proc/self");
      return new int[] {(Integer) Files.getAttribute(self, "unix:uid"), (Integer) Files.getAttribute(self, "unix:gid")};
    } catch (java.io.IOException | RuntimeException e) {
      return new int[] {-1, -1};
    }
  }
}
