package io.psgivassal.emperor.core;

import io.psgivassal.emperor.forkserver.PendingAdoption;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * Runtime state of one vassal. Owned by the event loop thread: only the loop reads or writes it;
 * other threads see {@link VassalView} snapshots.
 */
final class Vassal {
  private final VassalSpec spec;
  private final Optional<URI> httpUrl;
  final Backoff backoff;

  VassalState state;
  int pid;
  int pidfd = -1;
  /** The Emperor's end of the Emperor pipe. */
  int pipeFd = -1;
  PendingAdoption pending;
  EventLoop.Timer retryTimer;
  EventLoop.Timer adoptionTimer;
  EventLoop.Timer killTimer;
  boolean ready;
  boolean accepting;
  boolean loyal;
  /** Set when the vassal must not come back (it asked to be stopped, or the Emperor is stopping). */
  boolean retired;
  int respawns;
  int starts;
  /** Consecutive failed start attempts, for log throttling. */
  int failures;
  Instant born;
  Instant lastHeartbeat;

  Vassal(VassalSpec spec, Duration backoffInitial, Duration backoffMax) {
    this.spec = spec;
    this.httpUrl = UwsgiIni.read(spec.configPath()).httpUrl();
    this.backoff = new Backoff(backoffInitial, backoffMax);
    this.state = spec.adopted() ? VassalState.ADOPTING : VassalState.SPAWNING;
  }

  VassalSpec spec() {
    return spec;
  }

  int pid() {
    return pid;
  }

  Optional<URI> httpUrl() {
    return httpUrl;
  }

  /** A process is attached and not yet reaped. */
  boolean alive() {
    return pidfd >= 0;
  }

  /** Resets the per-instance facts before a new process takes over. */
  void newInstance(int newPid, int newPidfd) {
    pid = newPid;
    pidfd = newPidfd;
    ready = false;
    accepting = false;
    loyal = false;
    born = Instant.now();
    lastHeartbeat = null;
    state = VassalState.RUNNING;
  }

  /** "app1.ini (pid 1234, adopted)": how every log line names a vassal. */
  String label() {
    return spec.name() + " (" + (pid > 0 ? "pid " + pid + ", " : "") + (spec.adopted() ? "adopted" : "base") + ")";
  }

  VassalView view() {
    return new VassalView(spec.name(), spec.configPath(), spec.adopted(), state, alive() ? pid : 0,
        ready, accepting, loyal, respawns, Optional.ofNullable(born), Optional.ofNullable(lastHeartbeat), httpUrl);
  }
}
