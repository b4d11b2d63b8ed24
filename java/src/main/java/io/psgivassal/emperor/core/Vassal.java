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
      this.httpUrl = UwsgiIni.read(f.path()).httpUrl();
      try {
        this.uid = (Integer) Files.getAttribute(f.path(), "unix:uid");
        this.gid = (Integer) Files.getAttribute(f.path(), "unix:gid");
      } catch (java.io.IOException | RuntimeException gone) {
        // the file vanished meanwhile: the monitor reports that next
      }
    } else if (newSpec.config() instanceof VassalSpec.TextConfig t) {
      this.httpUrl = UwsgiIni.parse(t.text()).httpUrl();
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

  int onDemandFd() {
    return onDemandSocket == null ? -1 : onDemandSocket.fd();
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
        blacklisted, uid, gid, spec.attributes(), httpUrl);
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
