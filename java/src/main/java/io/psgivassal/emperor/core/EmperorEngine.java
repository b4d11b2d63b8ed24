package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.AdoptionLatencies;
import io.psgivassal.emperor.api.BlacklistEntry;
import io.psgivassal.emperor.api.DeployView;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.EmperorConfig;
import io.psgivassal.emperor.api.EmperorStatus;
import io.psgivassal.emperor.api.EngineProvider;
import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.api.MonitorContext;
import io.psgivassal.emperor.api.MonitorSettings;
import io.psgivassal.emperor.api.VassalListener;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.ini.Ini;
import io.psgivassal.emperor.forkserver.ForkServerClient;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.Prctl;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine behind an {@link Emperor}: its one thread runs the event loop that serves every
 * vassal, monitor event, timer and stats client. Stopping it stops the monitors, then the vassals
 * (adopted ones first, then the fork servers), waits up to the reload mercy, kills what is left,
 * and returns from {@code shutDown()} only once no vassal, worker or zombie of ours is left.
 */
final class EmperorEngine implements EngineProvider.Engine {
  private static final Logger log = LoggerFactory.getLogger(Emperor.class);
  private static final int MAX_EVENTS = 64;
  private static final long MAX_WAIT_MILLIS = 1000;
  static final String VERSION = "psgi-vassal-emperor " + Emperor.version();

  private final EmperorConfig config;
  private final List<Monitor> monitors;
  private final Listeners listeners = new Listeners();
  private volatile boolean shutdownRequested;
  private volatile EventLoop loop;
  private volatile Supervisor supervisor;
  private volatile StatsServer stats;
  private boolean shutdownBegun;
  private OrphanReaper reaper;
  private HookRunner hooks;
  /**
   * The one thread that does the monitors' and config file-system work (listing, stat, reading):
   * a hung mount blocks it, never the loop. Daemon: a read stuck in the kernel keeps no JVM alive.
   */
  private java.util.concurrent.ExecutorService io;
  /** Vassal names with I/O queued or under way (loop thread): their later news waits behind it. */
  private final Map<String, Integer> pendingIo = new java.util.HashMap<>();

  EmperorEngine(EmperorConfig config, List<Monitor> monitors) {
    if (config.forkServerSocket().isPresent()) {
      new ForkServerClient(config.forkServerSocket().get()); // validates the path
    }
    this.config = config;
    this.monitors = List.copyOf(monitors);
  }

  /** The current state of every vassal, in the order they were added; at most one loop turn old. */
  @Override
  public List<VassalView> vassals() {
    Supervisor s = supervisor;
    return s == null ? List.of() : s.views();
  }

  public Optional<VassalView> vassal(String name) {
    return vassals().stream().filter(v -> v.name().equals(name)).findFirst();
  }

  /** Vassals that died before they were loyal, with their throttle. */
  @Override
  public List<BlacklistEntry> blacklist() {
    Supervisor s = supervisor;
    return s == null ? List.of() : s.blacklist();
  }

  /** Everything the stats socket reports. */
  @Override
  public EmperorStatus status() {
    return new EmperorStatus(VERSION, ProcessHandle.current().pid(), Vassal.ownUid(), Vassal.ownGid(),
        Path.of("").toAbsolutePath().toString(), monitors.stream().map(Monitor::id).toList(),
        config.throttle().toSeconds(), vassals(), blacklist(), deploys(),
        monitors.stream().filter(m -> !m.state().isEmpty()).collect(java.util.stream.Collectors.toMap(Monitor::id, Monitor::state)));
  }

  /** How long adoptions from fork servers have taken so far. */
  @Override
  public AdoptionLatencies adoptionLatencies() {
    Supervisor s = supervisor;
    return s == null ? AdoptionLatencies.NONE : s.adoptionLatencies();
  }

  /** Deploys under way (see {@link #deploy}). */
  @Override
  public List<DeployView> deploys() {
    Supervisor s = supervisor;
    return s == null ? List.of() : s.deployViews();
  }

  /**
   * Deploys new code: starts a new generation of base vassal {@code baseName} (which loads the
   * code as it is now on disk) while the old one keeps adopting; once the new fork server is
   * ready, every vassal adopted from it moves to the new generation, {@code deployBatch} at a
   * time, each new process accepting before its old one is stopped. Events DEPLOY_STARTED,
   * DEPLOY_FAILED and DEPLOY_FINISHED tell how it goes. The same happens when the base's config
   * changes.
   *
   * @return completes when the deploy has started; exceptionally (IllegalArgumentException) if
   *     {@code baseName} is no running base vassal, or the Emperor is not running
   */
  @Override
  public java.util.concurrent.CompletableFuture<Void> deploy(String baseName) {
    return onLoop((s, started) -> {
      String refused = s.deploy(baseName);
      if (refused == null) {
        started.complete(null);
      } else {
        started.completeExceptionally(new IllegalArgumentException("cannot deploy " + baseName + ": " + refused));
      }
    });
  }

  @Override
  public java.util.concurrent.CompletableFuture<Integer> reloadAll() {
    return onLoop((s, started) -> started.complete(s.reloadAll("reload of every vassal requested")));
  }

  /**
   * Reloads vassal {@code name} as a changed config would (its next generation beside it with a
   * held socket, else 1); a base vassal's reload is a deploy.
   */
  @Override
  public java.util.concurrent.CompletableFuture<Void> reload(String name) {
    return request("reload", name, Supervisor::reloadOnRequest);
  }

  /**
   * Stops vassal {@code name} (0, or 2 when graceful; SIGKILL after the reload mercy); it stays
   * stopped (IDLE) until {@link #start} or a change of its config.
   */
  @Override
  public java.util.concurrent.CompletableFuture<Void> stop(String name) {
    return request("stop", name, Supervisor::stopOnRequest);
  }

  /** Starts vassal {@code name} now if it waits: stopped, idle, dead or throttled. */
  @Override
  public java.util.concurrent.CompletableFuture<Void> start(String name) {
    return request("start", name, Supervisor::startOnRequest);
  }

  /** Runs {@code op} on the loop; it returns null when done, else why it was refused. */
  private java.util.concurrent.CompletableFuture<Void> request(String what, String name,
      java.util.function.BiFunction<Supervisor, String, String> op) {
    return onLoop((s, started) -> {
      String refused = op.apply(s, name);
      if (refused == null) {
        started.complete(null);
      } else {
        started.completeExceptionally(new IllegalArgumentException("cannot " + what + " " + name + ": " + refused));
      }
    });
  }

  /** Runs {@code task} on the loop, which completes the future; fails it at once if the loop is not running. */
  private <T> java.util.concurrent.CompletableFuture<T> onLoop(
      java.util.function.BiConsumer<Supervisor, java.util.concurrent.CompletableFuture<T>> task) {
    java.util.concurrent.CompletableFuture<T> result = new java.util.concurrent.CompletableFuture<>();
    EventLoop l = loop;
    Supervisor s = supervisor;
    if (l == null || s == null) {
      result.completeExceptionally(new IllegalStateException("the Emperor is not running"));
      return result;
    }
    try {
      l.execute(() -> task.accept(s, result));
    } catch (java.util.concurrent.RejectedExecutionException closed) {
      result.completeExceptionally(new IllegalStateException("the Emperor is not running"));
    }
    return result;
  }

  /**
   * The TCP port of the stats server (useful when it was asked for port 0); empty without a TCP
   * stats server, and once the Emperor has closed it (stopping).
   */
  @Override
  public OptionalInt statsPort() {
    StatsServer s = stats;
    return s != null ? s.port() : OptionalInt.empty();
  }

  /**
   * Adds a listener of vassal events. It gets its events in order, through {@code executor}; the
   * event loop never runs listener code and never waits for it. With {@link
   * com.google.common.util.concurrent.MoreExecutors#directExecutor()} (or any executor that runs
   * tasks in the calling thread) the events are delivered on this Emperor's one "emperor-events"
   * thread, one listener after the other: a slow listener there delays the events of the others
   * on that thread (give it an executor of its own), never the vassals. A listener may call
   * anything on the Emperor, {@code stopAsync().awaitTerminated()} included. Whatever a listener
   * throws, Errors included, is logged and the events go on; only a {@link VirtualMachineError} is
   * left to {@code executor}.
   */
  @Override
  public void addListener(VassalListener listener, Executor executor) {
    listeners.add(Objects.requireNonNull(listener), Objects.requireNonNull(executor));
  }

  /** Running Emperors in this JVM: the subreaper flag is ours while at least one runs. */
  private static int subreaperUsers;

  private static synchronized void holdSubreaper() {
    if (subreaperUsers++ == 0) {
      Prctl.setChildSubreaper(true);
    }
  }

  /**
   * Once no Emperor runs, later orphans of the host's own processes must go to init again rather
   * than become zombies of a JVM that no longer reaps them.
   */
  private static synchronized void releaseSubreaper() {
    if (--subreaperUsers == 0) {
      Prctl.setChildSubreaper(false);
    }
  }

  /** Makes the event loop; a test makes it fail. */
  static volatile java.util.function.IntFunction<EventLoop> loopFactory = EventLoop::new;

  /**
   * Acquires the subreaper flag, the loop (its epoll and eventfd), the hook pool, the supervisor
   * and the stats socket; a failure anywhere releases all that was acquired before it, the
   * listeners' thread too, and the service fails.
   */
  @Override
  public void startUp() {
    holdSubreaper();
    Supervisor s = null;
    try {
      reaper = new OrphanReaper((int) ProcessHandle.current().pid(), FileDescriptors.ownSessionId());
      loop = loopFactory.apply(MAX_EVENTS);
      io = java.util.concurrent.Executors.newSingleThreadExecutor(new com.google.common.util.concurrent.ThreadFactoryBuilder()
          .setNameFormat("emperor-io").setDaemon(true).build());
      hooks = new HookRunner(config.startHook(), config.stopHook(), config.hookTimeout(), config.environment(), loop::execute);
      s = new Supervisor(config, loop, listeners, hooks);
      s.afterEachDeath(this::scanOrphansSoon);
      if (config.stats().isPresent()) {
        try {
          stats = new StatsServer(config.stats().get(), loop, this::status);
        } catch (IllegalArgumentException e) {
          throw new IllegalStateException("--emperor-stats " + config.stats().get() + ": " + e.getMessage(), e);
        }
      }
      supervisor = s;
    } catch (RuntimeException | Error e) {
      if (s != null) {
        s.closeAll();
      }
      if (hooks != null) {
        hooks.close();
      }
      if (io != null) {
        io.shutdownNow();
      }
      if (loop != null) {
        loop.close();
      }
      listeners.close();
      releaseSubreaper();
      throw e;
    }
    log.info("Emperor starting: monitors {}{}", monitors.stream().map(Monitor::id).toList(),
        config.forkServerSocket().map(p -> ", fork server " + p).orElse(""));
    if (!config.holdSockets()) {
      log.info("vassal sockets are not held by the Emperor{}: each generation binds its own, and connections"
          + " are refused between generations", config.binaryServesInheritedSockets() ? ""
              : " (" + config.binaryPath() + " is not psgi-vassal; --emperor-hold-sockets if its configs say fd://0)");
    }
  }

  @Override
  public void run() {
    if (stats != null) {
      stats.start();
    }
    // Monitors start here, not in startUp(): a service stopped while STARTING skips run() but
    // still gets shutDown(), which then has no vassals to deal with.
    MonitorSettings settings = monitorSettings();
    for (Monitor m : monitors) {
      try {
        m.start(new Context(m, settings));
      } catch (RuntimeException e) {
        log.error("monitor {} failed to start", m.id(), e);
      }
    }
    if (shutdownRequested) {
      beginShutdown();
    }
    if (config.forkServerSocket().isPresent() || config.forkServerAttribute().isPresent()) {
      warmUpForkServerClient();
    }
    scheduleOrphanScan();
    while (!supervisor.finished()) {
      loop.runOnce(MAX_WAIT_MILLIS);
    }
    // stop hooks of the last vassals report on the loop; each is killed at the hook timeout, and
    // whatever still runs after that is killed by hooks.close()
    long deadline = System.nanoTime() + config.hookTimeout().toNanos() + HookRunner.AFTER_KILL.toNanos();
    while (hooks.busy() && System.nanoTime() < deadline) {
      loop.runOnce(100);
    }
  }

  private MonitorSettings monitorSettings() {
    Set<String> attrs = new HashSet<>(config.collectAttributes());
    config.forkServerAttribute().ifPresent(attrs::add);
    return new MonitorSettings(attrs, config.onDemandExtension(), config.onDemandDirectory(), config.rescanInterval());
  }

  private void scheduleOrphanScan() {
    loop.schedule(config.orphanScanInterval().toMillis(), TimeUnit.MILLISECONDS, () -> {
      reaper.reapZombies(supervisor.vassalPids(), supervisor.sessions());
      if (!supervisor.finished()) {
        scheduleOrphanScan();
      }
    });
  }

  /**
   * After a vassal dies its workers finish their request and exit as orphans of the JVM: look
   * for their zombies soon, not only at the next periodic scan.
   */
  private void scanOrphansSoon() {
    for (long ms : new long[] {20, 200}) {
      loop.schedule(ms, TimeUnit.MILLISECONDS, () -> reaper.reapVassalOrphans(supervisor.vassalPids(), supervisor.sessions()));
    }
  }

  @Override
  public void triggerShutdown() {
    shutdownRequested = true;
    EventLoop l = loop;
    if (l != null) {
      try {
        l.execute(this::beginShutdown);
      } catch (java.util.concurrent.RejectedExecutionException closed) {
        // startUp failed and closed the loop: nothing runs
      }
    }
  }

  /** While the base vassals load, not on the first adoption's clock. */
  private void warmUpForkServerClient() {
    long t0 = System.nanoTime();
    try {
      ForkServerClient.warmUp();
      log.debug("fork-server client warmed up in {} ms", (System.nanoTime() - t0) / 1_000_000);
    } catch (RuntimeException e) {
      log.warn("fork-server client warm-up failed (the first adoption will be slower): {}", e.getMessage());
    }
  }

  /** On the loop: no more news from the monitors, then the vassals go. */
  private void beginShutdown() {
    if (shutdownBegun) {
      return;
    }
    shutdownBegun = true;
    for (Monitor m : monitors) {
      try {
        m.stop();
      } catch (RuntimeException e) {
        log.warn("monitor {} failed to stop cleanly", m.id(), e);
      }
    }
    supervisor.beginShutdown();
  }

  @Override
  public void shutDown() throws InterruptedException {
    if (supervisor == null) {
      return;
    }
    try {
      if (!supervisor.finished()) {
        if (!supervisor.vassalPids().isEmpty()) {
          log.error("Emperor loop ended abnormally: killing all vassals");
        }
        monitors.forEach(m -> {
          try {
            m.stop();
          } catch (RuntimeException ignored) {
            // best effort on the way down
          }
        });
        supervisor.killAllNow(5000);
      }
      supervisor.closeAll();
      if (stats != null) {
        stats.close();
      }
      hooks.close();
      reaper.killOrphans(supervisor.vassalPids(), supervisor.sessions(), 2000);
    } finally {
      reaper.retire();
      stopIo();
      loop.close();
      listeners.close(); // events still queued are delivered, by a thread that never waits for the Emperor
      releaseSubreaper();
      log.info("Emperor stopped");
    }
  }

  /**
   * Lets the I/O thread finish what is queued (a monitor's last close), but never waits long for
   * a read stuck on a hung mount: that thread is left to it, and what it hands back is dropped.
   */
  private void stopIo() {
    io.shutdown();
    try {
      if (!io.awaitTermination(2, TimeUnit.SECONDS)) {
        log.warn("the I/O thread is still blocked in a file-system call; leaving it behind");
        io.shutdownNow();
      }
    } catch (InterruptedException e) {
      io.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** On the I/O thread: runs {@code task} on the loop, unless the Emperor has stopped meanwhile. */
  private void backToLoop(Runnable task) {
    try {
      loop.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException stopped) {
      log.debug("the loop has stopped; dropping what the I/O thread found");
    }
  }

  /** On the loop: runs {@code task} on the I/O thread; once that is shut down (stopping), here. */
  private void onIo(Runnable task) {
    try {
      io.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException stopped) {
      task.run();
    }
  }

  /** What a monitor sees of the Emperor: its calls go to the supervisor, tagged with its id. */
  private final class Context implements MonitorContext {
    private final Monitor monitor;
    private final MonitorSettings settings;

    Context(Monitor monitor, MonitorSettings settings) {
      this.monitor = monitor;
      this.settings = settings;
    }

    /**
     * A file config is read on the I/O thread and applied on the loop once read; a text config,
     * or a removal, is applied at once unless I/O of the same vassal is still pending, which it
     * then follows, so that the news of one vassal is applied in order.
     */
    @Override
    public void put(VassalSpec spec, Instant lastModified) {
      String name = spec.name();
      if (!ConfigFacts.needsIo(spec) && !pendingIo.containsKey(name)) {
        supervisor.put(monitor.id(), spec, lastModified, ConfigFacts.of(spec));
        return;
      }
      viaIo(name, () -> {
        ConfigFacts facts = ConfigFacts.needsIo(spec) ? ConfigFacts.of(spec) : null;
        return () -> supervisor.put(monitor.id(), spec, lastModified, facts != null ? facts : ConfigFacts.of(spec));
      });
    }

    @Override
    public Map<String, String> attributesOf(String configText) {
      return Ini.emperorAttributes(configText, settings.attributes());
    }

    @Override
    public void remove(String name) {
      if (!pendingIo.containsKey(name)) {
        supervisor.remove(monitor.id(), name);
        return;
      }
      viaIo(name, () -> () -> supervisor.remove(monitor.id(), name));
    }

    /** Runs {@code read} on the I/O thread, then what it returns on the loop, counted as pending for {@code name}. */
    private void viaIo(String name, java.util.function.Supplier<Runnable> read) {
      pendingIo.merge(name, 1, Integer::sum);
      Runnable done = () -> pendingIo.computeIfPresent(name, (k, n) -> n == 1 ? null : n - 1);
      onIo(() -> {
        Runnable apply;
        try {
          apply = read.get();
        } catch (RuntimeException e) {
          log.warn("reading the config of {} failed", name, e);
          apply = () -> { };
        }
        Runnable then = apply;
        backToLoop(() -> {
          done.run();
          then.run();
        });
      });
    }

    @Override
    public void io(Runnable task) {
      onIo(task);
    }

    @Override
    public void afterIo(Runnable task) {
      backToLoop(task);
    }

    @Override
    public void execute(Runnable task) {
      loop.execute(task);
    }

    @Override
    public Cancellable schedule(Duration delay, Runnable task) {
      EventLoop.Timer t = loop.schedule(delay.toMillis(), TimeUnit.MILLISECONDS, task);
      return t::cancel;
    }

    @Override
    public Cancellable watch(int fd, Runnable onReadable) {
      loop.register(fd, Epoll.EPOLLIN, events -> onReadable.run());
      return () -> loop.unregister(fd);
    }

    @Override
    public MonitorSettings settings() {
      return settings;
    }
  }

}
