package io.psgivassal.emperor.core;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Runtime state of one vassal across all its processes. Owned by the event loop thread: only the
 * loop reads or writes it; other threads see {@link VassalView} snapshots.
 */
final class Vassal {
  private static final int[] OWN_IDS = ownIds();

  final String monitor;
  final Backoff backoff;
  VassalSpec spec;
  /** The spec to start with once the current process is gone (Intent.REPLACE). */
  VassalSpec nextSpec;
  Instant lastModified;
  int uid;
  int gid;
  Optional<URI> httpUrl = Optional.empty();

  VassalState state;
  Intent intent = Intent.RUN;
  /** The current process, or null. */
  VassalInstance proc;
  /** The start in progress, or null. */
  StartAttempt start;
  /** How the current (or last) process was obtained. */
  boolean adopted;
  Optional<Path> forkServer = Optional.empty();
  /** An on-demand vassal's socket, bound by the Emperor and kept across processes. */
  BoundSocket onDemandSocket;
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
    this.monitor = monitor;
    this.backoff = new Backoff(backoffInitial, backoffMax);
    this.state = VassalState.DEAD;
    update(spec, lastModified);
  }

  /** Takes a new spec and re-reads what is derived from the config. */
  void update(VassalSpec newSpec, Instant modified) {
    this.spec = newSpec;
    this.lastModified = modified;
    this.uid = OWN_IDS[0];
    this.gid = OWN_IDS[1];
    if (newSpec.config() instanceof VassalSpec.FileConfig f) {
      UwsgiIni ini = UwsgiIni.read(f.path());
      this.httpUrl = ini.httpUrl();
      deriveHeldAddress(ini);
      try {
        this.uid = (Integer) Files.getAttribute(f.path(), "unix:uid");
        this.gid = (Integer) Files.getAttribute(f.path(), "unix:gid");
      } catch (java.io.IOException | RuntimeException gone) {
        // the file vanished meanwhile: the monitor reports that next
      }
    } else if (newSpec.config() instanceof VassalSpec.TextConfig t) {
      UwsgiIni ini = UwsgiIni.parse(t.text());
      this.httpUrl = ini.httpUrl();
      deriveHeldAddress(ini);
    }
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
