package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.AdoptionLatencies;
import io.psgivassal.emperor.api.BlacklistEntry;
import io.psgivassal.emperor.api.DeployView;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.EmperorConfig;
import io.psgivassal.emperor.api.ExitStatus;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.protocol.ConfigPacket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Emperor's decisions: when to start, reload, stop, respawn, throttle and forget vassals.
 * Runs entirely on the event loop thread, so it needs no locking and never blocks: every wait is
 * an epoll registration or a timer. Monitors feed it with {@link #put} and {@link #remove}.
 */
final class Supervisor implements Launcher.Started, PipeMessages.Decisions {
  private static final Logger log = LoggerFactory.getLogger(Supervisor.class);

  // Emperor pipe, Emperor -> vassal
  static final int CMD_STOP = 0;
  static final int CMD_RELOAD = 1;
  static final int CMD_GRACEFUL_STOP = 2;

  /** After SIGKILL at the end of the reload mercy, how long to wait for the pidfds before giving up. */
  private static final long KILL_GRACE_MILLIS = 5000;

  private final EmperorConfig config;
  private final EventLoop loop;
  private final Listeners listeners;
  private final HookRunner hooks;
  private final Launcher launcher;
  private final Blacklist blacklist;
  private final Map<String, Vassal> vassals = new LinkedHashMap<>();
  private final Set<Integer> sessions = new java.util.HashSet<>();
  private final PipeMessages messages;
  private boolean dirty = true;
  private volatile List<VassalView> snapshot = List.of();
  private volatile List<BlacklistEntry> blacklistSnapshot = List.of();
  private boolean stopping;
  private boolean finished;
  private EventLoop.Timer mercyTimer;
  private EventLoop.Timer giveUpTimer;
  private final HeartbeatWatch heartbeats;
  private final OnDemandGate gate;
  /** Previous generations told to stop, until their pidfds report them gone. */
  private final List<Retiree> retiring = new ArrayList<>();

  private record Retiree(Vassal v, VassalInstance p) {}

  /** Deploys under way, by fork-server socket. */
  private final Map<java.nio.file.Path, Deploy> deploys = new LinkedHashMap<>();
  /** The generation each live base process runs, by pid (= the session of what it forks). */
  private final Map<Integer, Integer> baseGenerationByPid = new java.util.HashMap<>();

  Supervisor(EmperorConfig config, EventLoop loop, Listeners listeners, HookRunner hooks) {
    this.config = config;
    this.loop = loop;
    this.listeners = listeners;
    this.hooks = hooks;
    this.launcher = new Launcher(config, loop, hooks, this, () -> dirty = true,
        pid -> vassalPids().contains(pid), this::basesOn);
    this.blacklist = new Blacklist(config.throttle(), config.maxThrottle());
    this.messages = new PipeMessages(loop, this::fire, config.heartbeat(), this, () -> dirty = true);
    this.gate = new OnDemandGate(loop, this::launch, () -> dirty = true);
    this.heartbeats = new HeartbeatWatch(config.heartbeat(), loop, vassals::values, this::heartbeatMissed);
    heartbeats.start();
    loop.afterEachTurn(this::publishIfDirty);
  }

  boolean finished() {
    return finished;
  }

  private Runnable afterDeath = () -> {};

  /** Runs {@code r} after each vassal process's death has been handled. */
  void afterEachDeath(Runnable r) {
    this.afterDeath = r;
  }

  boolean stopping() {
    return stopping;
  }

  List<VassalView> views() {
    return snapshot;
  }

  List<BlacklistEntry> blacklist() {
    return blacklistSnapshot;
  }

  /** Sessions the vassals of this Emperor have lived in (their descendants live there too). */
  Set<Integer> sessions() {
    return Set.copyOf(sessions);
  }

  /** Pids of attached, unreaped vassal processes: the orphan reaper must leave these alone. */
  Set<Integer> vassalPids() {
    Set<Integer> pids = vassals.values().stream().filter(Vassal::alive).map(Vassal::pid).collect(Collectors.toSet());
    vassals.values().stream().filter(v -> v.predecessor != null).forEach(v -> pids.add(v.predecessor.pid));
    retiring.forEach(r -> pids.add(r.p().pid));
    return pids;
  }

  /** The live processes of the base vassals whose fork-server socket {@code socket} the Emperor holds. */
  private Set<Integer> basesOn(java.nio.file.Path socket) {
    Set<Integer> pids = new java.util.HashSet<>();
    for (Vassal v : vassals.values()) {
      if (v.heldSocket != null && v.servesForkServer.equals(Optional.of(socket))) {
        if (v.alive()) {
          pids.add(v.pid());
        }
        if (v.predecessor != null) {
          pids.add(v.predecessor.pid);
        }
      }
    }
    // a base told to stop may still be finishing an adoption it accepted
    retiring.stream().filter(r -> r.v().servesForkServer.equals(Optional.of(socket))).forEach(r -> pids.add(r.p().pid));
    return pids;
  }

  // ---- what the monitors say ----

  /**
   * A monitor reports a vassal: new ones start, known ones whose config changed reload. Start-up
   * is not throttled: every vassal reported at once starts at once (spawns are paced per loop
   * turn and adoptions queued per fork server, but none waits for a timer). {@code facts} is what
   * was read of the config, off the loop ({@link ConfigFacts#of}).
   */
  void put(String monitor, VassalSpec spec, Instant lastModified, ConfigFacts facts) {
    Vassal v = vassals.get(spec.name());
    if (v == null) {
      if (stopping) {
        return;
      }
      v = new Vassal(monitor, spec, lastModified, facts, config.retryInitial(), config.retryMax());
      vassals.put(spec.name(), v);
      log.info("vassal {} added by {}{}", spec.name(), monitor,
          spec.onDemand().map(a -> " (on demand, socket " + a + ")").orElse(""));
      startFresh(v);
      return;
    }
    if (!v.monitor.equals(monitor)) {
      log.warn("vassal {} is already governed by {}; ignoring the one {} reports", spec.name(), v.monitor, monitor);
      return;
    }
    if (v.spec.equals(spec) && v.lastModified.equals(lastModified)) {
      return;
    }
    configChanged(v, spec, lastModified, facts);
  }

  /** A monitor reports a vassal gone: stop it (0, or 2 when graceful), SIGKILL after the reload mercy. */
  void remove(String monitor, String name) {
    Vassal v = vassals.get(name);
    if (v == null || !v.monitor.equals(monitor) || v.intent() == Intent.SHUTDOWN) {
      return;
    }
    cancelStart(v);
    cancelWait(v);
    retirePredecessor(v, "its config was removed");
    if (v.alive()) {
      stopProcess(v, Intent.REMOVE, "its config was removed");
    } else {
      finishRemoval(v);
    }
  }

  private void configChanged(Vassal v, VassalSpec spec, Instant lastModified, ConfigFacts facts) {
    boolean socketChanged = !v.spec.onDemand().equals(spec.onDemand());
    if (v.intent() == Intent.SHUTDOWN) {
      v.update(spec, lastModified, facts);
      return;
    }
    if (socketChanged) {
      log.info("vassal {}: on-demand socket changed ({} -> {}): starting it afresh", v.label(),
          v.spec.onDemand().map(Object::toString).orElse("none"), spec.onDemand().map(Object::toString).orElse("none"));
      if (v.alive()) {
        v.nextSpec = spec;
        v.nextFacts = facts;
        v.lastModified = lastModified;
        stopProcess(v, Intent.REPLACE, "its on-demand socket changed");
        return;
      }
      cancelStart(v);
      cancelWait(v);
      closeOnDemandSocket(v);
      v.update(spec, lastModified, facts);
      startFresh(v);
      return;
    }
    v.update(spec, lastModified, facts);
    if (v.alive()) {
      switch (v.intent()) {
        case REPLACE -> {
          v.nextSpec = spec;
          v.nextFacts = facts;
        }
        case REMOVE, IDLE_STOP -> v.intend(Intent.RELOAD); // back (or changed): start again once it is gone
        // a reload already under way picks the newest config up as well
        case BACK_TO_ON_DEMAND, SHUTDOWN, RELOAD -> { }
        case RUN -> {
          if (v.proc.stopSent || v.proc.cursedAt != null) {
            log.info("vassal {}: config changed while it is being stopped; the new config applies when it respawns", v.label());
          } else {
            reload(v, "config changed");
          }
        }
      }
      return;
    }
    if (v.start != null) {
      // it may already have read the old config: start over with the new one
      log.info("vassal {}: config changed while starting; starting it again", v.label());
      cancelStart(v);
      launch(v);
      return;
    }
    switch (v.state()) {
      case ON_DEMAND -> log.info("vassal {}: config updated; it starts on the next connection", v.label());
      default -> {
        // IDLE, DEAD or THROTTLED: a new config is a new chance, start now
        cancelWait(v);
        log.info("vassal {}: config changed; starting it now", v.label());
        resume(v);
      }
    }
  }

  // ---- starting ----

  private void startFresh(Vassal v) {
    if (v.onDemand()) {
      waitOnSocket(v);
    } else {
      launch(v);
    }
  }

  /** After a death or a wait: an on-demand vassal goes back to its socket, the others start. */
  private void resume(Vassal v) {
    v.waitTimer = null;
    if (v.onDemand()) {
      waitOnSocket(v);
    } else {
      launch(v);
    }
  }

  private void launch(Vassal v) {
    cancelWait(v);
    if (stopping || v.intent() == Intent.REMOVE || v.intent() == Intent.SHUTDOWN) {
      return;
    }
    v.intend(Intent.RUN);
    holdSocket(v);
    launcher.launch(v);
    dirty = true;
  }

  // ---- held sockets and generations ----

  /**
   * Binds the socket the vassal's config names, unless the Emperor holds it already; a held
   * socket its config no longer names is closed (the generation still serving keeps its own copy
   * until it stops). Where the socket cannot be held, the vassal binds its own, as before: said
   * once per config.
   */
  private void holdSocket(Vassal v) {
    // a fork-server socket is held only for a base that is spawned (it travels at fd 0 of the spawn)
    boolean adoptedBase = v.servesForkServer.isPresent() && launcher.willAdopt(v.spec);
    Optional<ListenAddress> want = config.holdSockets() && !adoptedBase ? v.heldAddress : Optional.empty();
    if (v.heldSocket != null && !want.equals(Optional.of(v.heldSocket.address()))) {
      log.info("vassal {}: its config no longer names {}: the Emperor stops holding it", v.label(), v.heldSocket);
      closeHeldSocket(v);
    }
    if (v.heldSocket != null) {
      return;
    }
    String unheld = v.unheldReason;
    if (want.isPresent()) {
      try {
        v.heldSocket = BoundSocket.bind(want.get(), false, v.heldUnixMode);
        log.info("vassal {}: the Emperor holds {} for every generation", v.label(), v.heldSocket);
        v.unheldLogged = null;
        return;
      } catch (IllegalArgumentException e) {
        unheld = "cannot bind it: " + e.getMessage();
      }
    }
    if (config.holdSockets() && unheld != null && !unheld.equals(v.unheldLogged)) {
      log.warn("vassal {}: its socket is not held by the Emperor ({}); it binds its own, and connections are"
          + " refused while no generation runs", v.label(), unheld);
      v.unheldLogged = unheld;
    }
  }

  private void closeHeldSocket(Vassal v) {
    if (v.heldSocket != null) {
      v.heldSocket.close();
      v.heldSocket = null;
    }
  }

  /**
   * Reload without a gap: the running generation keeps serving while the next one starts with
   * the same held socket; {@link #accepting} stops the old one gracefully once the new one accepts.
   */
  private void startNextGeneration(Vassal v, String why) {
    VassalInstance current = v.proc;
    fire(v, VassalEvents.of(VassalEvent.Type.RELOAD_SENT, v, why + ": starting the next generation"));
    if (v.predecessor != null) {
      // a successor that does not accept yet is dropped; the predecessor still serves
      retire(v, current, CMD_STOP, "superseded before it accepted");
    }
    v.nextGenerationStarting(Instant.now());
    if (isBase(v)) {
      startDeploy(v, why);
    } else {
      log.info("vassal {}: {}: starting its next generation; pid {} serves until it accepts", v.name(), why,
          v.predecessor.pid);
    }
    launch(v);
  }

  private static boolean isBase(Vassal v) {
    return v.servesForkServer.isPresent() && !v.adopted;
  }

  // ---- deploys ----

  /**
   * A new generation of a base vassal starts (its config changed, or {@link #deploy}): the old one
   * keeps adopting on the held socket until the new one serves it.
   */
  private void startDeploy(Vassal base, String why) {
    java.nio.file.Path socket = base.servesForkServer.orElseThrow();
    base.nextGeneration = Math.max(base.nextGeneration, base.generation) + 1;
    log.info("deploy of {}: {}: starting base generation {}; pid {} keeps adopting on {} until it is ready",
        base.name(), why, base.nextGeneration, base.predecessor.pid, socket);
    if (config.deployAdopted()) {
      deploys.put(socket, new Deploy(base, socket, base.nextGeneration));
    }
    fire(base, VassalEvents.of(VassalEvent.Type.DEPLOY_STARTED, base, why + ": generation " + base.nextGeneration));
  }

  /** Emperor.deploy: a new generation of base {@code name}, as if its config had changed. */
  String deploy(String name) {
    Vassal v = vassals.get(name);
    if (v == null) {
      return "no vassal named " + name;
    }
    if (!isBase(v)) {
      return name + " runs no fork server (its config names no absolute fork-server path)";
    }
    if (stopping || !running(v)) {
      return name + " is not running";
    }
    if (v.predecessor != null) {
      return "a deploy of " + name + " is starting already";
    }
    reload(v, "deploy requested");
    return null;
  }

  /**
   * Emperor.reload: the reload a changed config would cause; null when it is under way, else why not.
   */
  String reloadOnRequest(String name) {
    Vassal v = vassals.get(name);
    if (v == null) {
      return "no vassal named " + name;
    }
    if (stopping || !running(v)) {
      return name + " is not running";
    }
    if (v.predecessor != null) {
      return "a reload of " + name + " is under way already";
    }
    reload(v, "reload requested");
    return null;
  }

  /** Emperor.stop: stops the vassal's process; it stays stopped (IDLE) until started or its config changes. */
  String stopOnRequest(String name) {
    Vassal v = vassals.get(name);
    if (v == null) {
      return "no vassal named " + name;
    }
    if (stopping || v.intent() != Intent.RUN || !v.alive() || v.proc.stopSent) {
      return name + " is not running";
    }
    retirePredecessor(v, "stop requested");
    stopProcess(v, Intent.IDLE_STOP, "stop requested");
    return null;
  }

  /** Emperor.start: starts a vassal that waits (stopped, idle, dead or throttled) now. */
  String startOnRequest(String name) {
    Vassal v = vassals.get(name);
    if (v == null) {
      return "no vassal named " + name;
    }
    VassalState st = v.state();
    if (stopping || v.alive() || v.start != null
        || !(st == VassalState.IDLE || st == VassalState.DEAD || st == VassalState.THROTTLED)) {
      return name + " is not stopped (" + st.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }
    cancelWait(v);
    log.info("vassal {}: start requested", v.label());
    resume(v);
    return null;
  }

  /**
   * SIGHUP, as in uWSGI's Emperor (emperor_massive_reload): every running vassal reloads as if its
   * config had been touched. A base's reload is a deploy that moves its adopted vassals itself
   * (unless deploys are base-only): those are left to it rather than reloaded twice. A vassal
   * whose next generation is already starting is left alone.
   *
   * @return how many vassals started reloading
   */
  int reloadAll(String why) {
    if (stopping) {
      return 0;
    }
    List<Vassal> due = vassals.values().stream().filter(v -> running(v) && v.start == null && v.predecessor == null)
        .toList();
    java.util.Set<java.nio.file.Path> deploying = new java.util.HashSet<>();
    for (Vassal v : due) {
      if (isBase(v)) {
        deploying.add(v.servesForkServer.get());
      }
    }
    int n = 0;
    for (Vassal v : due) {
      boolean movedByDeploy = config.deployAdopted() && v.adopted && v.forkServer.map(deploying::contains).orElse(false);
      if (!movedByDeploy) {
        reload(v, why);
        n++;
      }
    }
    return n;
  }

  /** Alive and meant to run, not being stopped. */
  private static boolean running(Vassal v) {
    return v.intent() == Intent.RUN && v.alive() && !v.proc.stopSent && v.proc.cursedAt == null;
  }

  /** The old generation of a base or a vassal may go: its successor serves. */
  private void handOff(Vassal v) {
    VassalInstance old = v.letPredecessorGo();
    if (old != null) {
      retire(v, old, CMD_GRACEFUL_STOP, "its next generation (pid " + v.pid() + ") "
          + (isBase(v) ? "serves the fork server" : "accepts"));
    }
    if (isBase(v)) {
      Deploy d = deploys.get(v.servesForkServer.get());
      if (d != null && d.base == v && !d.rolling && v.generation >= d.target) {
        d.rolling = true;
        log.info("deploy of {}: generation {} serves {}: moving its vassals, {} at a time", v.name(), d.target,
            d.socket, config.deployBatch());
        pumpDeploy(d);
      }
    }
  }

  /** Moves the next vassals of a rolling deploy; finishes it when none is left. */
  private void pumpDeploy(Deploy d) {
    if (deploys.get(d.socket) != d || stopping || !d.rolling) {
      return;
    }
    while (d.inProgress.size() < config.deployBatch()) {
      Vassal next = vassals.values().stream().filter(d::candidate).findFirst().orElse(null);
      if (next == null) {
        break;
      }
      d.begin(next);
      reload(next, "deploy of " + d.base.name() + " generation " + d.target);
    }
    if (d.inProgress.isEmpty()) {
      deploys.remove(d.socket);
      long ms = java.time.Duration.between(d.started, Instant.now()).toMillis();
      log.info("deploy of {} finished in {} ms: {}", d.base.name(), ms, d.summary());
      fire(d.base, VassalEvents.of(VassalEvent.Type.DEPLOY_FINISHED, d.base, d.summary()));
    }
    dirty = true;
  }

  /** After a vassal's generation change settles one way or the other, deploys may move on. */
  private void pumpDeploys() {
    for (Deploy d : List.copyOf(deploys.values())) {
      pumpDeploy(d);
    }
  }

  AdoptionLatencies adoptionLatencies() {
    return launcher.adoptionLatencies();
  }

  /** Deploys in progress, for the stats. */
  List<DeployView> deployViews() {
    return deployViewSnapshot;
  }

  private volatile List<DeployView> deployViewSnapshot = List.of();

  /** The first 5 of a generation: the one it replaces may go now. */
  @Override
  public void accepting(Vassal v) {
    handOff(v);
    for (Deploy d : List.copyOf(deploys.values())) {
      d.accepted(v);
    }
    pumpDeploys();
  }

  /** Stops the generation serving while its successor starts (the vassal is going away). */
  private void retirePredecessor(Vassal v, String why) {
    VassalInstance old = v.letPredecessorGo();
    if (old != null) {
      retire(v, old, config.gracefulShutdown() ? CMD_GRACEFUL_STOP : CMD_STOP, why);
    }
  }

  /** Sends a previous generation {@code cmd}; SIGKILL after the reload mercy. */
  private void retire(Vassal v, VassalInstance p, int cmd, String why) {
    p.stopSent = true;
    p.cursedAt = Instant.now();
    boolean sent = p.send(cmd);
    retiring.add(new Retiree(v, p));
    log.info("vassal {}: previous generation (pid {}) -> STOPPING: {}: {}; SIGKILL if it is still there in {}",
        v.name(), p.pid, why, sent ? "sent " + cmd + (cmd == CMD_STOP ? " (stop)" : " (graceful stop)")
            : "its pipe is unusable", human(config.reloadMercy()));
    if (!sent) {
      p.kill();
    }
    if (p.killTimer == null) {
      p.killTimer = loop.schedule(config.reloadMercy().toMillis(), TimeUnit.MILLISECONDS, () -> {
        p.killTimer = null;
        log.warn("vassal {}: previous generation (pid {}) did not exit within {}: SIGKILL", v.name(), p.pid,
            human(config.reloadMercy()));
        p.kill();
      });
    }
    dirty = true;
  }

  /** A process that is no longer the vassal's current one (a predecessor or a retiree) exited. */
  private void onPreviousGenerationDeath(Vassal v, VassalInstance p, ExitStatus status) {
    p.closeAll(loop);
    baseGenerationByPid.remove(p.pid);
    retiring.removeIf(r -> r.p() == p);
    if (v.predecessor == p) {
      v.letPredecessorGo();
      log.warn("vassal {}: its serving generation (pid {}) died ({}) while the next one starts", v.name(), p.pid, status);
    } else {
      log.info("vassal {}: previous generation (pid {}) -> DEAD ({})", v.name(), p.pid, status);
    }
    fire(v, VassalEvents.died(v, p.pid, status));
    hooks.runStop(v.name(), v.configDescription(), p.pid);
    dirty = true;
    if (stopping) {
      advanceShutdown();
    }
  }

  private void cancelStart(Vassal v) {
    launcher.cancel(v);
  }

  private void cancelWait(Vassal v) {
    if (v.waitTimer != null) {
      v.waitTimer.cancel();
      v.waitTimer = null;
    }
    gate.pause(v);
  }

  /** pidfd_open(2); a test swaps it to make it fail. */
  static volatile java.util.function.IntUnaryOperator pidfdOpener = PidFds::open;

  /** First and longest delay between pidfd_open attempts after it failed for want of descriptors. */
  private static final long PIDFD_RETRY_FIRST_MILLIS = 25;
  private static final long PIDFD_RETRY_MAX_MILLIS = 1000;

  /** A process exists for {@code v}: watch it, feed it its config, announce it. */
  @Override
  public void started(Vassal v, int pid, int pipeFd, int configFd) {
    v.attemptSucceeded();
    int pidfd;
    try {
      pidfd = pidfdOpener.applyAsInt(pid);
    } catch (NativeException e) {
      if (PidFds.noSuchProcess(e)) {
        // it exited and was reaped before we could watch it; handled like any other death
        log.warn("vassal {}: pidfd_open({}) failed: {}", v.label(), pid, e.getMessage());
        FileDescriptors.closeQuietly(pipeFd);
        FileDescriptors.closeQuietly(configFd);
        onDeath(v, new VassalInstance(pid, -1, -1, -1, v.adopted), ExitStatus.unknown(pid));
        return;
      }
      // EMFILE, ENFILE, ENOMEM: says nothing about the vassal, which lives. It runs as any other
      // (its pipe is watched); its pidfd is opened again from the loop until that succeeds.
      log.warn("vassal {}: pidfd_open({}) failed: {}; it runs unwatched by a pidfd until pidfd_open succeeds"
          + " (retrying from {} ms up to every {} ms)", v.label(), pid, e.getMessage(),
          PIDFD_RETRY_FIRST_MILLIS, PIDFD_RETRY_MAX_MILLIS);
      pidfd = -1;
    }
    VassalInstance p = new VassalInstance(pid, pidfd, pipeFd, configFd, v.adopted);
    boolean continuation = v.processStarted(p, Instant.now());
    Optional<ProcFs.Stat> st = ProcFs.stat(pid);
    st.ifPresent(s -> sessions.add(s.session()));
    if (isBase(v)) {
      v.generation = v.nextGeneration;
      baseGenerationByPid.put(pid, v.generation);
    } else if (v.adopted) {
      v.baseGeneration = st.map(s -> baseGenerationByPid.getOrDefault(s.session(), 0)).orElse(0);
    }
    if (pidfd >= 0) {
      loop.register(pidfd, Epoll.EPOLLIN, events -> onPidfd(v, p));
    } else {
      retryPidfd(v, p, PIDFD_RETRY_FIRST_MILLIS);
    }
    messages.watch(v, p);
    pushConfig(v);
    log.info("vassal {} -> RUNNING ({}{})", v.label(),
        v.adopted ? "adopted from fork server " + v.forkServer.get() : "spawned",
        v.starts > 1 ? (continuation ? ", after its reload" : ", respawn #" + v.respawns) : "");
    fire(v, VassalEvents.of(VassalEvent.Type.SPAWNED, v, v.adopted ? "adopted" : "spawned"));
    if (v.starts > 1) {
      fire(v, VassalEvents.of(VassalEvent.Type.RESPAWNED, v, continuation ? "after reload" : "respawn #" + v.respawns));
    }
    dirty = true;
  }

  /**
   * Opens {@code p}'s pidfd again after {@code delayMillis}, doubling the delay up to a second
   * while it fails for want of descriptors. An unreaped process keeps its pid (a zombie too:
   * pidfd_open succeeds on one, and the pidfd then reports its death at once); ESRCH means it is
   * gone and was reaped by someone else, which is reported as a death of unknown status.
   */
  private void retryPidfd(Vassal v, VassalInstance p, long delayMillis) {
    loop.schedule(delayMillis, TimeUnit.MILLISECONDS, () -> {
      if (p.closed()) {
        return; // reaped or abandoned meanwhile
      }
      int fd;
      try {
        fd = pidfdOpener.applyAsInt(p.pid);
      } catch (NativeException e) {
        if (PidFds.noSuchProcess(e)) {
          log.warn("vassal {}: pid {} is gone and was not ours to reap: its exit status is unknown", v.label(), p.pid);
          reportDeath(v, p, ExitStatus.unknown(p.pid));
        } else {
          retryPidfd(v, p, Math.min(delayMillis * 2, PIDFD_RETRY_MAX_MILLIS));
        }
        return;
      }
      p.attachPidfd(fd);
      loop.register(fd, Epoll.EPOLLIN, events -> onPidfd(v, p));
      log.info("vassal {}: pidfd_open({}) succeeded, its death is watched again", v.label(), p.pid);
      onPidfd(v, p); // it may have exited meanwhile (the pidfd of a zombie is readable at once anyway)
    });
  }

  private void pushConfig(Vassal v) {
    if (v.spec.config() instanceof VassalSpec.TextConfig t && v.proc != null) {
      v.proc.pushConfig(ConfigPacket.of(t.text()), loop,
          err -> log.warn("vassal {}: cannot send its config: {}", v.label(), err));
    }
  }

  // ---- on-demand ----

  private void waitOnSocket(Vassal v) {
    if (stopping || v.intent() == Intent.REMOVE) {
      return;
    }
    v.intend(Intent.RUN);
    gate.open(v);
  }

  private void closeOnDemandSocket(Vassal v) {
    gate.close(v);
  }

  // ---- what the vassal says ----

  @Override
  public void ready(Vassal v) {
    if (v.intent() == Intent.RELOAD) {
      v.intend(Intent.RUN); // reloaded in place (a base vassal re-executes itself)
    }
    if (!v.adopted) {
      launcher.pokeForkServers(); // it may be a fork server that just came up
    }
    if (isBase(v)) {
      checkHeldForkServerSocket(v);
      handOff(v); // a base is ready once its fork server accepts
    }
  }

  /**
   * A base that unlinks and rebinds its fork-server path (uWSGI's fork server does) cannot use a
   * held socket: the Emperor lets the file be the base's, and deploys of it restart only the base.
   */
  private void checkHeldForkServerSocket(Vassal v) {
    if (v.heldSocket != null && !v.heldSocket.fileIsOurs()) {
      log.warn("vassal {}: it bound its fork-server socket {} itself instead of using the one the Emperor holds;"
          + " its deploys restart only the base (uWSGI's behaviour)", v.label(), v.heldSocket);
      v.heldSocket.closeKeepingFile();
      v.heldSocket = null;
      v.refusesHeldSocket = true;
      v.heldAddress = Optional.empty();
    }
  }

  @Override
  public void loyal(Vassal v) {
    if (blacklist.remove(v.name())) {
      log.info("vassal {} is loyal: off the blacklist", v.label());
    }
  }

  @Override
  public void idle(Vassal v) {
    if (stopping || v.intent() != Intent.RUN) {
      return; // already on its way out (a stop, a removal, a reload): 22 changes nothing
    }
    if (v.onDemand()) {
      stopProcess(v, Intent.BACK_TO_ON_DEMAND, "it is idle; back to on-demand mode");
    } else {
      stopProcess(v, Intent.IDLE_STOP, "it is idle and asked to be stopped");
    }
  }

  @Override
  public void configRequested(Vassal v) {
    if (v.spec.config() instanceof VassalSpec.TextConfig) {
      log.info("vassal {} asked for its config: sending it again", v.label());
      pushConfig(v);
    } else {
      log.info("vassal {} asked for its config, but it reads its own file {}", v.label(), v.spec.configArgument());
    }
  }

  /** EOF: the vassal is going away. If it lingers anyway, it is killed after the mercy (uWSGI's curse). */
  @Override
  public void pipeClosed(Vassal v, VassalInstance p) {
    p.closePipe(loop);
    if (p.cursedAt != null || v.proc != p) {
      return; // a previous generation: its pidfd says when it is gone
    }
    if (v.intent() == Intent.RUN) {
      curse(v, p, "its Emperor pipe closed without a stop from the Emperor (it is exiting or dying)");
    } else {
      // it is leaving because it was told to (a reload of an adopted vassal, say): only guard against lingering
      v.condemned();
      dirty = true;
      armKill(v, p);
    }
  }

  private void curse(Vassal v, VassalInstance p, String why) {
    p.cursedAt = Instant.now();
    v.condemned();
    dirty = true;
    log.info("vassal {} -> STOPPING: {}; SIGKILL if it is still there in {}", v.label(), why, human(config.reloadMercy()));
    fire(v, VassalEvents.of(VassalEvent.Type.CURSED, v, why));
    armKill(v, p);
  }

  private void armKill(Vassal v, VassalInstance p) {
    if (p.killTimer == null) {
      p.killTimer = loop.schedule(config.reloadMercy().toMillis(), TimeUnit.MILLISECONDS, () -> {
        p.killTimer = null;
        if (v.proc == p) {
          log.warn("vassal {} did not exit within {}: SIGKILL", v.label(), human(config.reloadMercy()));
          p.kill();
        }
      });
    }
  }

  private void onPidfd(Vassal v, VassalInstance p) {
    Optional<ExitStatus> status;
    try {
      status = PidFds.waitNoHang(p.pidfd(), p.pid);
    } catch (NativeException e) {
      log.warn("vassal {}: {}", v.label(), e.getMessage());
      status = Optional.of(ExitStatus.unknown(p.pid));
    }
    if (status.isPresent()) {
      reportDeath(v, p, status.get());
    }
  }

  private void reportDeath(Vassal v, VassalInstance p, ExitStatus status) {
    if (v.proc == p) {
      onDeath(v, p, status);
    } else {
      onPreviousGenerationDeath(v, p, status);
    }
    afterDeath.run();
  }

  /** {@code p}, the current process (or one that could not be watched), died. */
  private void onDeath(Vassal v, VassalInstance p, ExitStatus status) {
    p.closeAll(loop);
    if (v.predecessor != null && v.intent() == Intent.RUN) {
      restorePredecessor(v, p, status);
      return;
    }
    baseGenerationByPid.remove(p.pid);
    boolean inDeploy = false;
    for (Deploy d : deploys.values()) {
      inDeploy |= d.inProgress.remove(v); // it is started again from the new base anyway
    }
    if (inDeploy) {
      loop.execute(this::pumpDeploys);
    }
    boolean wasLoyal = v.loyal;
    boolean wasAccepting = v.accepting;
    Intent intent = v.died();
    boolean expected = intent != Intent.RUN;
    String label = v.name() + " (pid " + p.pid + ", " + (p.adopted ? "adopted" : "spawned") + ")";
    if (expected) {
      log.info("vassal {} -> DEAD ({})", label, status);
    } else {
      log.warn("vassal {} -> DEAD ({}) unexpectedly{}", label, status, wasLoyal ? "" : ", before it was loyal");
    }
    dirty = true;
    fire(v, VassalEvents.died(v, p.pid, status));
    hooks.runStop(v.name(), v.configDescription(), p.pid);
    switch (intent) {
      case SHUTDOWN -> advanceShutdown();
      case REMOVE -> finishRemoval(v);
      case REPLACE -> {
        closeOnDemandSocket(v);
        v.update(v.nextSpec, v.lastModified, v.nextFacts);
        v.nextSpec = null;
        v.nextFacts = null;
        startFresh(v);
      }
      case IDLE_STOP -> {
        v.idled();
        log.info("vassal {} -> IDLE: stays stopped until its config changes", v.name());
      }
      case RELOAD -> resume(v); // a reload, not a failure: never blacklisted, back at once
      case BACK_TO_ON_DEMAND -> waitOnSocket(v);
      case RUN -> {
        // only a vassal that never accepted failed to start; one that served is respawned at once
        if (!wasLoyal && !wasAccepting) {
          BlacklistEntry e = blacklist.add(v.name());
          v.throttled();
          log.warn("vassal {} -> THROTTLED: blacklisted (attempt {}), next start in {}", v.name(), e.attempt(),
              human(e.throttle()));
          fire(v, VassalEvents.blacklisted(v, e.throttle(), e.attempt()));
          v.waitTimer = loop.schedule(e.throttle().toMillis(), TimeUnit.MILLISECONDS, () -> resume(v));
        } else {
          long delay = config.respawnDelay().toMillis();
          if (delay > 0) {
            log.info("vassal {} will be respawned in {}", v.name(), human(config.respawnDelay()));
          }
          v.waitTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> resume(v));
        }
      }
    }
  }

  /** The next generation died before it accepted: the one it was to replace serves on. */
  private void restorePredecessor(Vassal v, VassalInstance dead, ExitStatus status) {
    VassalInstance back = v.predecessorRestored();
    dirty = true;
    fire(v, VassalEvents.died(v, dead.pid, status));
    hooks.runStop(v.name(), v.configDescription(), dead.pid);
    baseGenerationByPid.remove(dead.pid);
    if (isBase(v)) {
      v.generation = baseGenerationByPid.getOrDefault(back.pid, v.generation);
      String why = "its new generation (pid " + dead.pid + ") died before its fork server was ready (" + status
          + "); generation " + v.generation + " (pid " + back.pid + ") keeps adopting";
      log.error("deploy of {} FAILED: {}. Fix the code and touch the config again", v.name(), why);
      v.keepsAdopting();
      Deploy d = deploys.get(v.servesForkServer.get());
      if (d != null && d.base == v) {
        deploys.remove(d.socket);
      }
      fire(v, VassalEvents.of(VassalEvent.Type.DEPLOY_FAILED, v, why));
      return;
    }
    log.warn("vassal {}: its next generation (pid {}) died before it accepted ({}); the previous one (pid {}) keeps"
        + " serving until the config changes again", v.name(), dead.pid, status, back.pid);
    for (Deploy d : List.copyOf(deploys.values())) {
      d.failedFor(v);
    }
    pumpDeploys();
  }

  private void finishRemoval(Vassal v) {
    v.servesForkServer.ifPresent(s -> {
      Deploy d = deploys.get(s);
      if (d != null && d.base == v) {
        deploys.remove(s);
      }
    });
    cancelStart(v);
    cancelWait(v);
    closeOnDemandSocket(v);
    closeHeldSocket(v);
    vassals.remove(v.name());
    dirty = true;
    log.info("vassal {} removed", v.name());
    fire(v, VassalEvents.of(VassalEvent.Type.REMOVED, v, ""));
  }

  // ---- heartbeats ----

  private void heartbeatMissed(Vassal v) {
    log.warn("vassal {} sent no heartbeat for {}: SIGKILL, it will be respawned", v.label(), human(config.heartbeat()));
    fire(v, VassalEvents.of(VassalEvent.Type.HEARTBEAT_MISSED, v, "silent for " + human(config.heartbeat())));
    v.proc.kill();
  }

  // ---- stopping ----

  /**
   * The one rule for restarting a running vassal on new config or code: with a held socket its
   * next generation starts beside it (no gap); without one it gets 1 and restarts in place.
   */
  private void reload(Vassal v, String why) {
    if (v.heldSocket != null) {
      startNextGeneration(v, why);
    } else {
      sendReload(v, why);
    }
  }

  private void sendReload(Vassal v, String why) {
    VassalInstance p = v.proc;
    v.reloading(Instant.now());
    if (!p.send(CMD_RELOAD)) {
      log.warn("vassal {}: cannot send it 1 (reload), its pipe is gone: SIGKILL, it is started again", v.label());
      p.kill();
      return;
    }
    v.reloadSent();
    dirty = true;
    log.info("vassal {}: {}: sent 1 (reload)", v.label(), why);
    fire(v, VassalEvents.of(VassalEvent.Type.RELOAD_SENT, v, why));
  }

  /** Sends 0 (2 when graceful) and curses the process: SIGKILL once the reload mercy is over. */
  private void stopProcess(Vassal v, Intent intent, String why) {
    v.intend(intent);
    VassalInstance p = v.proc;
    if (p == null || p.stopSent) {
      return;
    }
    p.stopSent = true;
    int cmd = config.gracefulShutdown() ? CMD_GRACEFUL_STOP : CMD_STOP;
    boolean sent = p.send(cmd);
    String what = sent ? "sent " + cmd + (cmd == CMD_STOP ? " (stop)" : " (graceful stop)")
        : "its pipe is unusable";
    if (p.cursedAt == null) {
      curse(v, p, why + ": " + what);
    } else {
      v.condemned();
      dirty = true;
    }
    if (!sent) {
      p.kill();
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
    heartbeats.stop();
    if (!deploys.isEmpty()) {
      log.info("Emperor stopping: abandoning the deploy(s) of {}", deploys.values().stream().map(d -> d.base.name()).toList());
      deploys.clear();
    }
    log.info("Emperor stopping: {} vassal(s), reload mercy {}{}", vassals.size(), human(config.reloadMercy()),
        config.gracefulShutdown() ? ", graceful" : "");
    for (Vassal v : List.copyOf(vassals.values())) {
      cancelStart(v);
      cancelWait(v);
      retirePredecessor(v, "the Emperor is stopping");
      v.shuttingDown();
    }
    launcher.close();
    dirty = true;
    mercyTimer = loop.schedule(config.reloadMercy().toMillis(), TimeUnit.MILLISECONDS, this::mercyExpired);
    advanceShutdown();
  }

  private void advanceShutdown() {
    if (finished || !stopping) {
      return;
    }
    // every vassal at once: one that is frozen must not keep the others from their stop byte
    // (adoptions cannot race with a stopping fork server: the launcher was closed first)
    List<Vassal> alive = vassals.values().stream().filter(Vassal::alive).toList();
    alive.forEach(v -> stopProcess(v, Intent.SHUTDOWN, "the Emperor is stopping"));
    if (!alive.isEmpty() || !retiring.isEmpty()) {
      return;
    }
    finish();
    log.info("all vassals stopped");
  }

  private void finish() {
    finished = true;
    if (mercyTimer != null) {
      mercyTimer.cancel();
    }
    if (giveUpTimer != null) {
      giveUpTimer.cancel();
    }
    vassals.values().forEach(this::closeOnDemandSocket);
    vassals.values().forEach(this::closeHeldSocket);
    launcher.removeDeadForkServerSockets();
    dirty = true;
  }

  private void mercyExpired() {
    for (Vassal v : vassals.values()) {
      if (v.alive()) {
        log.warn("vassal {} did not stop within {}: SIGKILL", v.label(), human(config.reloadMercy()));
        v.condemned();
        v.proc.kill();
      }
    }
    retiring.forEach(r -> r.p().kill());
    dirty = true;
    giveUpTimer = loop.schedule(KILL_GRACE_MILLIS, TimeUnit.MILLISECONDS, () -> {
      // stuck in the kernel (state D), say: the Emperor stops without them; a JVM-wide thread
      // reaps each (by pid) once it dies at last, so that none stays a zombie of this JVM
      for (int pid : vassalPids()) {
        log.error("vassal process pid {} (state {}) did not die within {} ms of SIGKILL: the Emperor abandons it;"
            + " it is reaped whenever it dies", pid, ProcFs.stat(pid).map(st -> String.valueOf(st.state())).orElse("?"),
            KILL_GRACE_MILLIS);
        AbandonedReaper.abandon(pid);
      }
      finish();
    });
  }

  /**
   * Last resort when the loop itself failed: SIGKILL everything and reap it, blocking (the loop
   * is gone, nothing else is served any more).
   */
  void killAllNow(long maxMillis) throws InterruptedException {
    long deadline = System.nanoTime() + maxMillis * 1_000_000;
    vassals.values().forEach(this::cancelStart);
    for (Vassal v : vassals.values()) {
      if (v.alive()) {
        v.proc.kill();
      }
    }
    retiring.forEach(r -> r.p().kill());
    vassals.values().stream().filter(v -> v.predecessor != null).forEach(v -> v.predecessor.kill());
    for (Vassal v : vassals.values()) {
      while (v.alive() && System.nanoTime() < deadline) {
        Optional<ExitStatus> st = v.proc.pidfd() >= 0 ? PidFds.waitNoHang(v.proc.pidfd(), v.proc.pid)
            : PidFds.reapNoHang(v.proc.pid);
        if (st.isPresent()) {
          log.info("vassal {} -> DEAD ({})", v.label(), st.get());
          v.proc.closeAll(loop);
          v.processGone();
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
      cancelStart(v);
      closeOnDemandSocket(v);
      closeHeldSocket(v);
      if (v.proc != null) {
        v.proc.closeAll(loop);
      }
    }
    retiring.forEach(r -> r.p().closeAll(loop));
    launcher.close();
    dirty = true;
    publishIfDirty();
  }

  static String human(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  /**
   * Delivers an event once the snapshot shows what it says: a listener that looks at
   * {@link Emperor#vassals()} on receiving it never sees an older state. Only the concerned
   * vassal's view is rebuilt, so a thousand vassals starting at once stay cheap.
   */
  private void fire(Vassal v, VassalEvent event) {
    List<VassalView> current = snapshot;
    List<VassalView> next = new ArrayList<>(current.size());
    boolean found = false;
    for (VassalView view : current) {
      if (view.name().equals(v.name()) && vassals.get(v.name()) == v) {
        next.add(v.view(blacklist.get(v.name()).isPresent()));
        found = true;
      } else {
        next.add(view);
      }
    }
    if (found) {
      snapshot = Collections.unmodifiableList(next);
      blacklistSnapshot = blacklist.snapshot();
    } else {
      dirty = true; // a vassal added or removed: the whole list changes
      publishIfDirty();
    }
    listeners.fire(event);
  }

  private void publishIfDirty() {
    if (!dirty) {
      return;
    }
    dirty = false;
    List<VassalView> views = new ArrayList<>(vassals.size());
    for (Vassal v : vassals.values()) {
      views.add(v.view(blacklist.get(v.name()).isPresent()));
    }
    snapshot = Collections.unmodifiableList(views);
    blacklistSnapshot = blacklist.snapshot();
    deployViewSnapshot = deploys.values().stream().map(Deploy::view).toList();
  }
}
