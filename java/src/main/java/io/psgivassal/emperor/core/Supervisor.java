package io.psgivassal.emperor.core;

import com.google.common.collect.ImmutableList;
import io.psgivassal.emperor.forkserver.AdoptionTimeoutException;
import io.psgivassal.emperor.forkserver.AttachedFds;
import io.psgivassal.emperor.forkserver.ForkServerClient;
import io.psgivassal.emperor.forkserver.ForkServerException;
import io.psgivassal.emperor.forkserver.PendingAdoption;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.ExitStatus;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.natives.UnixSockets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Emperor's decisions: starting, adopting, watching, respawning and stopping vassals. Runs
 * entirely on the event loop thread, so it needs no locking and never blocks: every wait is an
 * epoll registration or a timer.
 */
final class Supervisor {
  private static final Logger log = LoggerFactory.getLogger(Supervisor.class);

  // Emperor pipe, vassal -> Emperor
  static final int MSG_READY = 1;
  static final int MSG_CONFIG_REQUEST = 2;
  static final int MSG_ACCEPTING = 5;
  static final int MSG_LOYAL = 17;
  static final int MSG_STOP_ME = 22;
  static final int MSG_HEARTBEAT = 26;
  static final int MSG_BROODLORD = 30;
  // Emperor pipe, Emperor -> vassal
  static final int CMD_STOP = 0;

  /** After SIGKILL at the end of the reload mercy, how long to wait for the pidfds before giving up. */
  private static final long KILL_GRACE_MILLIS = 5000;

  private final EmperorConfig config;
  private final EventLoop loop;
  private final Listeners listeners;
  private final Consumer<List<VassalView>> publisher;
  private final BaseSpawner spawner;
  private final Optional<ForkServerClient> forkServer;
  private final Map<String, Vassal> vassals = new LinkedHashMap<>();
  private final byte[] pipeBuffer = new byte[256];
  private boolean started;
  private boolean stopping;
  private boolean finished;
  private EventLoop.Timer mercyTimer;
  private EventLoop.Timer giveUpTimer;

  Supervisor(EmperorConfig config, EventLoop loop, Listeners listeners, Consumer<List<VassalView>> publisher) {
    this.config = config;
    this.loop = loop;
    this.listeners = listeners;
    this.publisher = publisher;
    this.spawner = new BaseSpawner(config.binaryPath(), config.environment());
    this.forkServer = config.forkServerSocket().map(ForkServerClient::new);
  }

  void start(List<VassalSpec> specs) {
    started = true;
    for (VassalSpec spec : specs) {
      vassals.put(spec.name(), new Vassal(spec, config.retryInitial(), config.retryMax()));
    }
    publish();
    vassals.values().forEach(this::launch);
  }

  boolean started() {
    return started;
  }

  boolean finished() {
    return finished;
  }

  boolean stopping() {
    return stopping;
  }

  /** Pids of attached, unreaped vassal processes: the orphan reaper must leave these alone. */
  Set<Integer> vassalPids() {
    return vassals.values().stream().filter(Vassal::alive).map(Vassal::pid).collect(Collectors.toSet());
  }

  /**
   * While a reply is outstanding, the fork server's grandchild is already our child but its pid
   * is not known yet; it must not be mistaken for an orphan.
   */
  boolean adoptionInFlight() {
    return vassals.values().stream().anyMatch(v -> v.pending != null);
  }

  // ---- starting ----

  private void launch(Vassal v) {
    v.retryTimer = null;
    if (stopping || v.retired) {
      return;
    }
    if (v.spec().adopted() && forkServer.isPresent()) {
      requestAdoption(v, forkServer.get());
    } else {
      spawnBase(v);
    }
  }

  private void spawnBase(Vassal v) {
    v.state = VassalState.SPAWNING;
    BaseSpawner.Spawned s;
    try {
      s = spawner.spawn(v.spec());
    } catch (NativeException e) {
      retryLater(v, "cannot spawn: " + e.getMessage());
      return;
    }
    v.pipeFd = s.emperorEnd();
    attach(v, s.pid());
  }

  private void requestAdoption(Vassal v, ForkServerClient client) {
    v.state = VassalState.ADOPTING;
    publish();
    int[] pair;
    try {
      pair = UnixSockets.socketPair();
    } catch (NativeException e) {
      retryLater(v, e.getMessage()); // EMFILE and the like: may clear up, never drop the vassal
      return;
    }
    PendingAdoption pending;
    try {
      pending = client.send(BaseSpawner.argv(config.binaryPath(), v.spec()), AttachedFds.of(pair[1]));
    } catch (ForkServerException e) {
      FileDescriptors.closeQuietly(pair[0]);
      FileDescriptors.closeQuietly(pair[1]);
      retryLater(v, "fork server " + client.socketPath() + ": " + e.getMessage());
      return;
    }
    // The fork server holds its own reference now (in flight or received); ours would only keep
    // the pipe from reporting EOF when the vassal goes away.
    FileDescriptors.close(pair[1]);
    v.pipeFd = pair[0];
    v.pending = pending;
    loop.register(pending.fd(), Epoll.EPOLLIN | Epoll.EPOLLRDHUP, events -> onReply(v));
    v.adoptionTimer = loop.schedule(config.adoptionTimeout().toMillis(), TimeUnit.MILLISECONDS,
        () -> adoptionFailed(v, new AdoptionTimeoutException(config.adoptionTimeout())));
  }

  private void onReply(Vassal v) {
    OptionalInt pid;
    try {
      pid = v.pending.onReadable();
    } catch (ForkServerException e) {
      adoptionFailed(v, e);
      return;
    }
    if (pid.isPresent()) {
      endPending(v);
      attach(v, pid.getAsInt());
    }
  }

  private void adoptionFailed(Vassal v, ForkServerException e) {
    endPending(v);
    closePipe(v);
    if (stopping) {
      log.warn("vassal {}: adoption abandoned during shutdown: {}", v.label(), e.getMessage());
      v.state = VassalState.DEAD;
      publish();
      advanceShutdown();
      return;
    }
    retryLater(v, "adoption failed: " + e.getMessage());
  }

  private void endPending(Vassal v) {
    if (v.adoptionTimer != null) {
      v.adoptionTimer.cancel();
      v.adoptionTimer = null;
    }
    if (v.pending != null) {
      loop.unregister(v.pending.fd());
      v.pending.close();
      v.pending = null;
    }
  }

  /** Never gives a vassal up: waits with a growing delay and tries again. */
  private void retryLater(Vassal v, String why) {
    v.failures++;
    long delay = v.backoff.nextDelayMillis();
    if (v.failures == 1 || v.failures % 20 == 0) {
      log.info("vassal {}: {} (attempt {}, retrying in {} ms)", v.label(), why, v.failures, delay);
    } else {
      log.debug("vassal {}: {} (attempt {}, retrying in {} ms)", v.label(), why, v.failures, delay);
    }
    publish();
    v.retryTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> launch(v));
  }

  /** A process exists for {@code v} (its pipe already in {@code v.pipeFd}): watch it. */
  private void attach(Vassal v, int pid) {
    v.backoff.reset();
    v.failures = 0;
    int pidfd;
    try {
      pidfd = PidFds.open(pid);
    } catch (NativeException e) {
      // ESRCH: it exited and was reaped before we could watch it; treat like any other death
      log.warn("vassal {}: pidfd_open({}) failed: {}", v.label(), pid, e.getMessage());
      v.pid = pid;
      closePipe(v);
      afterDeath(v, ExitStatus.unknown(pid), false);
      return;
    }
    v.newInstance(pid, pidfd);
    v.starts++;
    v.respawns = v.starts - 1;
    loop.register(pidfd, Epoll.EPOLLIN, events -> onPidfd(v));
    loop.register(v.pipeFd, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, events -> onPipe(v));
    log.info("vassal {} -> RUNNING ({}{})", v.label(), v.spec().adopted() ? "adopted from the fork server" : "spawned",
        v.respawns > 0 ? ", respawn #" + v.respawns : "");
    listeners.fire(VassalEvent.of(VassalEvent.Type.SPAWNED, v));
    if (v.respawns > 0) {
      listeners.fire(VassalEvent.of(VassalEvent.Type.RESPAWNED, v));
    }
    publish();
    if (stopping) {
      stopVassal(v);
    }
  }

  // ---- watching ----

  private void onPipe(Vassal v) {
    while (v.pipeFd >= 0) {
      int n;
      try {
        n = UnixSockets.recv(v.pipeFd, pipeBuffer);
      } catch (NativeException e) {
        log.debug("vassal {}: Emperor pipe: {}", v.label(), e.getMessage());
        n = 0;
      }
      if (n == UnixSockets.WOULD_BLOCK) {
        return;
      }
      if (n == 0) {
        pipeClosed(v);
        return;
      }
      for (int i = 0; i < n; i++) {
        onMessage(v, pipeBuffer[i] & 0xFF);
      }
    }
  }

  private void onMessage(Vassal v, int b) {
    switch (b) {
      case MSG_READY -> {
        boolean first = !v.ready;
        v.ready = true;
        progress(v, VassalState.READY, first ? VassalEvent.Type.READY : null);
      }
      case MSG_ACCEPTING -> {
        boolean first = !v.accepting;
        v.accepting = true;
        progress(v, VassalState.ACCEPTING, first ? VassalEvent.Type.ACCEPTING : null);
      }
      case MSG_LOYAL -> {
        boolean first = !v.loyal;
        v.loyal = true;
        progress(v, VassalState.LOYAL, first ? VassalEvent.Type.LOYAL : null);
      }
      case MSG_HEARTBEAT -> {
        v.lastHeartbeat = Instant.now();
        log.debug("vassal {}: heartbeat", v.label());
        publish();
      }
      case MSG_STOP_ME -> {
        log.info("vassal {} is idle and asked to be stopped; it will not be respawned", v.label());
        v.retired = true;
        stopVassal(v);
      }
      case MSG_CONFIG_REQUEST -> log.info("vassal {} asked for its config again; ignored (it reads its own file)", v.label());
      case MSG_BROODLORD -> log.info("vassal {} asked for a zerg; broodlord mode is not supported", v.label());
      default -> log.warn("vassal {} sent unknown Emperor-pipe byte {}", v.label(), b);
    }
  }

  /** States only move forward; a repeated or late message updates the flags alone. */
  private void progress(Vassal v, VassalState next, VassalEvent.Type event) {
    if (v.state.isBefore(next) && v.state != VassalState.STOPPING && v.state != VassalState.DEAD) {
      v.state = next;
      String where = next.ordinal() >= VassalState.ACCEPTING.ordinal()
          ? v.httpUrl().map(u -> " on " + u).orElse("") : "";
      log.info("vassal {} -> {}{}", v.label(), next, where);
    }
    if (event != null) {
      listeners.fire(VassalEvent.of(event, v));
    }
    publish();
  }

  private void pipeClosed(Vassal v) {
    closePipe(v);
    if (!v.alive()) {
      return;
    }
    if (v.state != VassalState.STOPPING) {
      // usually the first sign of an exit the pidfd reports a moment later; only worth a
      // warning if the process lingers
      log.debug("vassal {} closed its Emperor pipe", v.label());
    }
    // EOF means the vassal is going away; if it lingers anyway, it is killed after the mercy.
    if (v.killTimer == null) {
      v.killTimer = loop.schedule(config.reloadMercy().toMillis(), TimeUnit.MILLISECONDS, () -> {
        v.killTimer = null;
        if (v.alive()) {
          log.warn("vassal {} still running {} after closing its Emperor pipe: SIGKILL", v.label(), human(config.reloadMercy()));
          kill(v);
        }
      });
    }
  }

  private void onPidfd(Vassal v) {
    Optional<ExitStatus> status;
    try {
      status = PidFds.waitNoHang(v.pidfd, v.pid);
    } catch (NativeException e) {
      log.warn("vassal {}: {}", v.label(), e.getMessage());
      status = Optional.of(ExitStatus.unknown(v.pid));
    }
    if (status.isEmpty()) {
      return; // spurious wakeup: still running
    }
    loop.unregister(v.pidfd);
    FileDescriptors.closeQuietly(v.pidfd);
    v.pidfd = -1;
    closePipe(v);
    boolean expected = v.state == VassalState.STOPPING;
    afterDeath(v, status.get(), expected);
  }

  private void afterDeath(Vassal v, ExitStatus status, boolean expected) {
    if (v.killTimer != null) {
      v.killTimer.cancel();
      v.killTimer = null;
    }
    v.state = VassalState.DEAD;
    if (expected) {
      log.info("vassal {} -> DEAD ({})", v.label(), status);
    } else {
      log.warn("vassal {} -> DEAD ({}) unexpectedly", v.label(), status);
    }
    listeners.fire(VassalEvent.died(v, status));
    publish();
    if (stopping) {
      advanceShutdown();
    } else if (!v.retired) {
      long delay = config.respawnDelay().toMillis();
      log.info("vassal {} will be respawned in {} ms", v.label(), delay);
      v.retryTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> launch(v));
    }
  }

  // ---- stopping ----

  private void stopVassal(Vassal v) {
    if (!v.alive() || v.state == VassalState.STOPPING) {
      return;
    }
    v.state = VassalState.STOPPING;
    publish();
    boolean sent = false;
    if (v.pipeFd >= 0) {
      try {
        sent = UnixSockets.sendByte(v.pipeFd, CMD_STOP);
      } catch (NativeException e) {
        log.debug("vassal {}: sending stop: {}", v.label(), e.getMessage());
      }
    }
    if (sent) {
      log.info("vassal {} -> STOPPING (sent stop)", v.label());
    } else {
      log.warn("vassal {} -> STOPPING: its Emperor pipe is unusable, SIGKILL", v.label());
      kill(v);
    }
  }

  private void kill(Vassal v) {
    try {
      Signals.pidfdSendSignal(v.pidfd, Signals.SIGKILL);
    } catch (NativeException e) {
      log.debug("vassal {}: {}", v.label(), e.getMessage()); // ESRCH: already exited
    }
  }

  /**
   * Stops adopted vassals first and the bases (the fork servers) after them, so no adoption can
   * race with a dying fork server; whatever is left when the reload mercy runs out is killed.
   */
  void beginShutdown() {
    if (stopping) {
      return;
    }
    stopping = true;
    log.info("Emperor stopping: {} vassal(s), reload mercy {}", vassals.size(), human(config.reloadMercy()));
    for (Vassal v : vassals.values()) {
      if (v.retryTimer != null) {
        v.retryTimer.cancel();
        v.retryTimer = null;
      }
      if (!v.alive() && v.pending == null) {
        closePipe(v);
        v.state = VassalState.DEAD;
      }
    }
    publish();
    mercyTimer = loop.schedule(config.reloadMercy().toMillis(), TimeUnit.MILLISECONDS, this::mercyExpired);
    advanceShutdown();
  }

  private void advanceShutdown() {
    if (finished) {
      return;
    }
    List<Vassal> adopted = vassals.values().stream()
        .filter(v -> v.spec().adopted() && (v.alive() || v.pending != null)).toList();
    if (!adopted.isEmpty()) {
      adopted.forEach(this::stopVassal);
      return;
    }
    List<Vassal> bases = vassals.values().stream().filter(Vassal::alive).toList();
    if (!bases.isEmpty()) {
      bases.forEach(this::stopVassal);
      return;
    }
    finished = true;
    if (mercyTimer != null) {
      mercyTimer.cancel();
    }
    if (giveUpTimer != null) {
      giveUpTimer.cancel();
    }
    log.info("all vassals stopped");
  }

  private void mercyExpired() {
    for (Vassal v : vassals.values()) {
      if (v.pending != null) {
        log.warn("vassal {}: no reply from the fork server before the reload mercy ran out; abandoning adoption", v.label());
        endPending(v);
        closePipe(v);
        v.state = VassalState.DEAD;
      }
      if (v.alive()) {
        log.warn("vassal {} did not stop within {}: SIGKILL", v.label(), human(config.reloadMercy()));
        v.state = VassalState.STOPPING;
        kill(v);
      }
    }
    publish();
    giveUpTimer = loop.schedule(KILL_GRACE_MILLIS, TimeUnit.MILLISECONDS, () -> {
      log.error("vassal(s) {} did not die after SIGKILL; giving up on them", vassalPids());
      finished = true;
    });
    advanceShutdown();
  }

  /**
   * Last resort when the loop itself failed: SIGKILL everything and reap it, blocking (the loop
   * is gone, nothing else is served any more).
   */
  void killAllNow(long maxMillis) throws InterruptedException {
    long deadline = System.nanoTime() + maxMillis * 1_000_000;
    for (Vassal v : vassals.values()) {
      endPending(v);
      if (v.alive()) {
        kill(v);
      }
    }
    for (Vassal v : vassals.values()) {
      while (v.alive() && System.nanoTime() < deadline) {
        Optional<ExitStatus> st = PidFds.waitNoHang(v.pidfd, v.pid);
        if (st.isPresent()) {
          log.info("vassal {} -> DEAD ({})", v.label(), st.get());
          FileDescriptors.closeQuietly(v.pidfd);
          v.pidfd = -1;
          v.state = VassalState.DEAD;
        } else {
          Thread.sleep(10);
        }
      }
    }
    finished = true;
  }

  /** Releases every descriptor still held (after the loop stopped). */
  void closeAll() {
    for (Vassal v : vassals.values()) {
      endPending(v);
      closePipe(v);
      if (v.pidfd >= 0) {
        loop.unregister(v.pidfd);
        FileDescriptors.closeQuietly(v.pidfd);
        v.pidfd = -1;
      }
    }
    publish();
  }

  private void closePipe(Vassal v) {
    if (v.pipeFd >= 0) {
      loop.unregister(v.pipeFd);
      FileDescriptors.closeQuietly(v.pipeFd);
      v.pipeFd = -1;
    }
  }

  static String human(java.time.Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  private void publish() {
    publisher.accept(vassals.values().stream().map(Vassal::view).collect(ImmutableList.toImmutableList()));
  }
}
