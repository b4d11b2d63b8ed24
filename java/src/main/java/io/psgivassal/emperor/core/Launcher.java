package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.AdoptionLatencies;
import io.psgivassal.emperor.api.EmperorConfig;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.natives.NativeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets a process for a vassal: runs the start hook, then spawns it (posix_spawn, paced per loop
 * turn) or asks its fork server (queued per fork server), and retries with a growing delay until
 * it works; a start is never given up, only cancelled. Runs on the event loop thread.
 */
final class Launcher implements ForkServerQueue.Outcome {
  private static final Logger log = LoggerFactory.getLogger(Launcher.class);
  /** posix_spawns per loop turn: a thousand vassals at boot must not keep pipes and stats waiting. */
  private static final int SPAWNS_PER_TURN = 32;

  /** Told when a process exists; {@code configFd} is -1 without a config pipe. */
  interface Started {
    void started(Vassal v, int pid, int pipeFd, int configFd);
  }

  private final EmperorConfig config;
  private final EventLoop loop;
  private final HookRunner hooks;
  private final Started started;
  private final Runnable changed;
  private final java.util.function.IntPredicate attached;
  private final java.util.function.Function<Path, Set<Integer>> basesOn;
  private final PlainSpawner spawner;
  private final Map<Path, ForkServerQueue> forkServers = new HashMap<>();
  /** Written on the loop, read by the stats from any thread. */
  private volatile AdoptionLatencies adoptionLatencies = AdoptionLatencies.NONE;

  AdoptionLatencies adoptionLatencies() {
    return adoptionLatencies;
  }
  private final Deque<Vassal> spawnQueue = new ArrayDeque<>();
  private boolean spawnDrainScheduled;

  /**
   * {@code attached}: is a pid already a supervised vassal (a fork server must not name one
   * twice)? {@code basesOn}: the base processes on a fork-server socket the Emperor holds.
   */
  Launcher(EmperorConfig config, EventLoop loop, HookRunner hooks, Started started, Runnable changed,
      java.util.function.IntPredicate attached, java.util.function.Function<Path, Set<Integer>> basesOn) {
    this.attached = attached;
    this.basesOn = basesOn;
    this.config = config;
    this.loop = loop;
    this.hooks = hooks;
    this.started = started;
    this.changed = changed;
    this.spawner = new PlainSpawner(config.binaryPath(), config.environment());
  }

  /** Starts a new attempt for {@code v} (which has no process and no attempt). */
  void launch(Vassal v) {
    StartAttempt a = new StartAttempt(resolveForkServer(v.spec));
    v.startAttempt(a);
    a.hookRunning = hooks.hasStartHook();
    hooks.runStart(v.name(), v.configDescription(), 0, () -> {
      a.hookRunning = false;
      if (v.start == a && !a.cancelled()) {
        proceed(v, a);
      }
    });
  }

  /** Abandons {@code v}'s attempt, wherever it is (an in-flight adoption's vassal sees EOF and exits). */
  void cancel(Vassal v) {
    StartAttempt a = v.start;
    if (a == null) {
      return;
    }
    v.start = null;
    a.cancel();
    if (a.queue != null) {
      a.queue.cancel(v);
      a.queue = null;
    }
    spawnQueue.remove(v);
  }

  /** A fork server may have come up: waiting adoptions try at once. */
  void pokeForkServers() {
    forkServers.values().forEach(ForkServerQueue::poke);
  }

  /**
   * Removes the socket files of the fork servers this Emperor knew that nobody listens on any
   * more (a base killed with SIGKILL cannot remove its own): called once every vassal is gone.
   */
  void removeDeadForkServerSockets() {
    Set<Path> known = new java.util.HashSet<>(forkServers.keySet());
    config.forkServerSocket().ifPresent(known::add);
    for (Path p : known) {
      try {
        if (BoundSocket.removeIfStale(p)) {
          log.info("removed the socket file {} of a fork server that is gone", p);
        }
      } catch (java.io.IOException failed) {
        log.warn("cannot remove the fork-server socket file {}: {}", p, failed.getMessage());
      }
    }
  }

  void close() {
    forkServers.values().forEach(ForkServerQueue::close);
    spawnQueue.clear();
    spawner.close();
  }

  private void proceed(Vassal v, StartAttempt a) {
    a.retryTimer = null;
    if (a.adopted()) {
      ForkServerQueue q;
      try {
        q = forkServers.computeIfAbsent(a.forkServer.get(), s -> new ForkServerQueue(s, loop, this,
            config.binaryPath(), config.maxConcurrentAdoptions(), config.adoptionTimeout(), config.retryInitial(),
            config.retryMax()));
      } catch (IllegalArgumentException e) {
        retry(v, a, e.getMessage()); // a socket path too long for sockaddr_un: its config may be fixed
        return;
      }
      a.queue = q;
      if (a.firstQueuedNanos == 0) {
        a.firstQueuedNanos = System.nanoTime();
      }
      q.submit(v);
    } else {
      spawnQueue.addLast(v);
      scheduleSpawnDrain();
    }
  }

  /**
   * uWSGI's choice, made at each start: the fork server the fork-server attribute names, else a
   * plain spawn for a fork base, else the default fork server, else a plain spawn.
   */
  private Optional<Path> resolveForkServer(VassalSpec spec) {
    if (spec.start() instanceof VassalSpec.Plain) {
      return Optional.empty();
    }
    if (spec.start() instanceof VassalSpec.ForkServer f) {
      return Optional.of(f.socket());
    }
    Optional<String> attr = config.forkServerAttribute().map(a -> spec.attributes().get(a));
    if (attr.isPresent() && !attr.get().isBlank()) {
      // relative to the monitored directory, as uWSGI resolves it (not to the JVM's cwd)
      Path named = Path.of(attr.get().strip());
      Optional<Path> dir = spec.configPath().map(Path::toAbsolutePath).map(Path::getParent);
      return Optional.of((dir.isPresent() ? dir.get().resolve(named) : named.toAbsolutePath()).normalize());
    }
    if (isForkBase(spec)) {
      return Optional.empty();
    }
    return config.forkServerSocket();
  }

  private boolean isForkBase(VassalSpec spec) {
    Set<String> bases = config.forkBaseNames();
    return bases.contains(spec.name()) || spec.configPath().map(p -> bases.contains(p.toString())).orElse(false);
  }

  private void scheduleSpawnDrain() {
    if (!spawnDrainScheduled && !spawnQueue.isEmpty()) {
      spawnDrainScheduled = true;
      loop.execute(this::drainSpawns);
    }
  }

  private void drainSpawns() {
    spawnDrainScheduled = false;
    for (int i = 0; i < SPAWNS_PER_TURN && !spawnQueue.isEmpty(); i++) {
      Vassal v = spawnQueue.pollFirst();
      StartAttempt a = v.start;
      if (a != null && !a.cancelled() && !a.adopted()) {
        spawn(v, a);
      }
    }
    scheduleSpawnDrain();
  }

  private void spawn(Vassal v, StartAttempt a) {
    PlainSpawner.Spawned s;
    try {
      s = spawner.spawn(v.argv(config.binaryPath()), v.spec.config() instanceof VassalSpec.TextConfig, v.listenFd());
    } catch (NativeException e) {
      retry(v, a, "cannot spawn " + config.binaryPath() + ": " + e.getMessage());
      return;
    }
    v.start = null;
    started.started(v, s.pid(), s.emperorEnd(), s.configEnd());
  }

  @Override
  public void adopted(Vassal v, int pid, int pipeFd, int configFd) {
    adoptionLatencies = adoptionLatencies.plus(Duration.ofNanos(System.nanoTime() - v.start.firstQueuedNanos));
    v.start.queue = null;
    v.start = null;
    started.started(v, pid, pipeFd, configFd);
  }

  @Override
  public boolean attached(int pid) {
    return attached.test(pid);
  }

  @Override
  public Set<Integer> basesOn(Path socket) {
    return basesOn.apply(socket);
  }

  /** Will {@code spec} be adopted from a fork server (rather than spawned)? */
  boolean willAdopt(VassalSpec spec) {
    return resolveForkServer(spec).isPresent();
  }

  @Override
  public void failed(Vassal v, String why) {
    StartAttempt a = v.start;
    if (a != null) {
      a.queue = null;
      retry(v, a, "adoption failed: " + why);
    }
  }

  /** Never gives a vassal up: waits with a growing delay and tries again. */
  private void retry(Vassal v, StartAttempt a, String why) {
    long delay = v.attemptFailed();
    if (v.failureWorthLogging()) {
      log.warn("vassal {}: {} (attempt {}, retrying in {} ms)", v.label(), why, v.failures, delay);
    } else {
      log.debug("vassal {}: {} (attempt {}, retrying in {} ms)", v.label(), why, v.failures, delay);
    }
    changed.run();
    a.retryTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> {
      if (v.start == a && !a.cancelled()) {
        proceed(v, a);
      }
    });
  }
}
