package io.psgivassal.emperor.core;

import com.google.common.util.concurrent.AbstractExecutionThreadService;
import io.psgivassal.emperor.forkserver.ForkServerClient;
import io.psgivassal.emperor.monitor.DirectoryMonitor;
import io.psgivassal.emperor.monitor.Monitor;
import io.psgivassal.emperor.monitor.MonitorContext;
import io.psgivassal.emperor.monitor.MonitorSettings;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.Prctl;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
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
 * A uWSGI-2.1-compatible Emperor as a Guava {@code Service} (usable in a {@code ServiceManager}).
 * Its one thread runs the event loop that serves every vassal, monitor event, timer and stats
 * client. Stopping it stops the monitors, then the vassals (adopted ones first, then the fork
 * servers), waits up to the reload mercy, kills what is left, and returns from
 * {@code awaitTerminated()} only once no vassal, worker or zombie of ours is left.
 *
 * <pre>{@code
 * Emperor emperor = Emperor.builder()
 *     .monitor(DirectoryMonitor.of("/etc/vassals/*.ini"))
 *     .binaryPath("psgi-vassal")
 *     .forkServerSocket(Path.of("/run/vassals/fork.sock"))
 *     .forkBase("base.ini")
 *     .build();
 * emperor.addListener(e -> log.info("{}", e), MoreExecutors.directExecutor());
 * emperor.startAsync().awaitRunning();
 * }</pre>
 */
public final class Emperor extends AbstractExecutionThreadService {
  private static final Logger log = LoggerFactory.getLogger(Emperor.class);
  private static final int MAX_EVENTS = 64;
  private static final long MAX_WAIT_MILLIS = 1000;
  static final String VERSION = "psgi-vassal-emperor 0.1.0";
  static final int DEFAULT_DEPLOY_BATCH = 8;

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

  private Emperor(EmperorConfig config, List<Monitor> monitors) {
    this.config = config;
    this.monitors = List.copyOf(monitors);
  }

  public static Builder builder() {
    return new Builder();
  }

  public EmperorConfig config() {
    return config;
  }

  public List<Monitor> monitors() {
    return monitors;
  }

  /** The current state of every vassal, in the order they were added; at most one loop turn old. */
  public List<VassalView> vassals() {
    Supervisor s = supervisor;
    return s == null ? List.of() : s.views();
  }

  public Optional<VassalView> vassal(String name) {
    return vassals().stream().filter(v -> v.name().equals(name)).findFirst();
  }

  /** Vassals that died before they were loyal, with their throttle. */
  public List<BlacklistEntry> blacklist() {
    Supervisor s = supervisor;
    return s == null ? List.of() : s.blacklist();
  }

  /** Everything the stats socket reports. */
  public EmperorStatus status() {
    return new EmperorStatus(VERSION, ProcessHandle.current().pid(), Vassal.ownUid(), Vassal.ownGid(),
        Path.of("").toAbsolutePath().toString(), monitors.stream().map(Monitor::id).toList(),
        config.throttle().toSeconds(), vassals(), blacklist(), deploys());
  }

  /** How long adoptions from fork servers have taken so far. */
  public AdoptionLatencies adoptionLatencies() {
    Supervisor s = supervisor;
    return s == null ? AdoptionLatencies.NONE : s.adoptionLatencies();
  }

  /** Deploys under way (see {@link #deploy}). */
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
  public java.util.concurrent.CompletableFuture<Void> deploy(String baseName) {
    return onLoop("deploy", baseName, Supervisor::deploy);
  }

  /**
   * Reloads vassal {@code name} as a changed config would (its next generation beside it with a
   * held socket, else 1); a base vassal's reload is a deploy.
   *
   * @return completes when the reload has started; exceptionally (IllegalArgumentException) if
   *     there is no such running vassal, or the Emperor is not running
   */
  public java.util.concurrent.CompletableFuture<Void> reload(String name) {
    return onLoop("reload", name, Supervisor::reloadOnRequest);
  }

  /**
   * Stops vassal {@code name} (0, or 2 when graceful; SIGKILL after the reload mercy); it stays
   * stopped (IDLE) until {@link #start} or a change of its config.
   */
  public java.util.concurrent.CompletableFuture<Void> stop(String name) {
    return onLoop("stop", name, Supervisor::stopOnRequest);
  }

  /** Starts vassal {@code name} now if it waits: stopped, idle, dead or throttled. */
  public java.util.concurrent.CompletableFuture<Void> start(String name) {
    return onLoop("start", name, Supervisor::startOnRequest);
  }

  /** Runs {@code op} on the loop; it returns null when done, else why it was refused. */
  private java.util.concurrent.CompletableFuture<Void> onLoop(String what, String name,
      java.util.function.BiFunction<Supervisor, String, String> op) {
    java.util.concurrent.CompletableFuture<Void> started = new java.util.concurrent.CompletableFuture<>();
    EventLoop l = loop;
    Supervisor s = supervisor;
    if (l == null || s == null || !isRunning()) {
      started.completeExceptionally(new IllegalStateException("the Emperor is not running"));
      return started;
    }
    try {
      l.execute(() -> {
        String refused = op.apply(s, name);
        if (refused == null) {
          started.complete(null);
        } else {
          started.completeExceptionally(new IllegalArgumentException("cannot " + what + " " + name + ": " + refused));
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException closed) {
      started.completeExceptionally(new IllegalStateException("the Emperor is not running"));
    }
    return started;
  }

  /**
   * The TCP port of the stats server (useful when it was asked for port 0); empty without a TCP
   * stats server, and once the Emperor has closed it (stopping).
   */
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
  public void addListener(VassalListener listener, Executor executor) {
    listeners.add(Objects.requireNonNull(listener), Objects.requireNonNull(executor));
  }

  @Override
  protected String serviceName() {
    return "Emperor";
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
  protected void startUp() {
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
          + " are refused between generations", Builder.servesInheritedSockets(config.binaryPath()) ? ""
              : " (" + config.binaryPath() + " is not psgi-vassal; --emperor-hold-sockets if its configs say fd://0)");
    }
  }

  @Override
  protected void run() {
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
  protected void triggerShutdown() {
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
  protected void shutDown() throws InterruptedException {
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

  /**
   * Builds an {@link Emperor}. Required: at least one monitor and the vassal binary. The defaults
   * are uWSGI's where uWSGI has one.
   */
  public static final class Builder {
    private final List<Monitor> monitors = new ArrayList<>();
    private Path forkServerSocket;
    private final Set<String> forkBases = new LinkedHashSet<>();
    private String forkServerAttribute;
    private final Set<String> collectAttributes = new LinkedHashSet<>();
    private String binaryPath;
    private Duration reloadMercy = Duration.ofSeconds(30);
    private boolean gracefulShutdown;
    private Boolean holdSockets;
    private int deployBatch = DEFAULT_DEPLOY_BATCH;
    private boolean deployAdopted = true;
    private Duration throttle = Duration.ofMillis(1000);
    private Duration maxThrottle = Duration.ofMinutes(3);
    private Duration heartbeat = Duration.ofSeconds(30);
    private String onDemandExtension;
    private Path onDemandDirectory;
    private String startHook;
    private String stopHook;
    private Duration hookTimeout = Duration.ofSeconds(60);
    private String stats;
    private Duration respawnDelay = Duration.ZERO;
    private Duration adoptionTimeout = Duration.ofSeconds(10);
    private Duration retryInitial = Duration.ofMillis(100);
    private Duration retryMax = Duration.ofSeconds(2);
    private Duration orphanScanInterval = Duration.ofSeconds(1);
    private Duration rescanInterval = Duration.ofSeconds(3);
    private int maxConcurrentAdoptions = 32;
    private Map<String, String> environment = System.getenv();

    private Builder() {}

    /** A source of vassals; repeatable (uWSGI's --emperor may be given several times). */
    public Builder monitor(Monitor m) {
      monitors.add(Objects.requireNonNull(m));
      return this;
    }

    /** Shorthand for {@code monitor(DirectoryMonitor.directory(dir))}: uWSGI's --emperor DIR. */
    public Builder vassalDirectory(Path dir) {
      return monitor(DirectoryMonitor.directory(dir));
    }

    /** The default fork server (--emperor-use-fork-server); without it vassals are spawned. */
    public Builder forkServerSocket(Path socket) {
      this.forkServerSocket = socket;
      return this;
    }

    /** A vassal spawned with posix_spawn rather than adopted (--vassal-fork-base NAME); repeatable. */
    public Builder forkBase(String name) {
      this.forkBases.add(name);
      return this;
    }

    public Builder forkBases(Collection<String> names) {
      this.forkBases.addAll(names);
      return this;
    }

    /**
     * --emperor-fork-server-attr NAME: a vassal whose config has {@code NAME = SOCKET} in its
     * {@code [emperor]} section is adopted from the fork server on SOCKET.
     */
    public Builder forkServerAttribute(String name) {
      this.forkServerAttribute = name;
      return this;
    }

    /** --emperor-collect-attr NAME: collect this {@code [emperor]} key as a vassal attribute; repeatable. */
    public Builder collectAttribute(String name) {
      this.collectAttributes.add(name);
      return this;
    }

    /** The vassal program (--binary-path); a bare name is looked up in PATH. */
    public Builder binaryPath(String binary) {
      this.binaryPath = binary;
      return this;
    }

    /** --reload-mercy: how long a stopping vassal may take before SIGKILL (default 30 s). */
    public Builder reloadMercy(Duration d) {
      this.reloadMercy = d;
      return this;
    }

    /** --emperor-graceful-shutdown: stop vassals with 2 (graceful) instead of 0. */
    public Builder gracefulShutdown(boolean graceful) {
      this.gracefulShutdown = graceful;
      return this;
    }

    /**
     * Held sockets: the Emperor binds the one {@code http-socket} or {@code socket} a vassal's
     * config names, once, and hands that same listening socket to every generation of the vassal
     * as fd 0 (uWSGI's on-demand descriptor), so connections wait in its backlog while no
     * generation accepts. Off ({@code --emperor-no-held-sockets}): each vassal binds its own.
     * The default is on for psgi-vassal, which serves fd 0 in place of the configured socket with
     * its address, and off for any other binary: uWSGI binds every configured socket itself and
     * only adds fd 0 as one more, so it would find its address taken ({@code
     * --emperor-hold-sockets} forces it on, e.g. for uWSGI configs that say {@code fd://0}).
     */
    public Builder holdSockets(boolean hold) {
      this.holdSockets = hold;
      return this;
    }

    /**
     * --emperor-deploy-batch: how many vassals a deploy moves to the new base generation at once
     * (default 8: a new generation costs the base one fork and the vassal its first worker, so a
     * few at a time keep the deploy short without a burst of forks on a small host).
     */
    public Builder deployBatch(int n) {
      this.deployBatch = n;
      return this;
    }

    /**
     * Whether a deploy (a changed base config, or {@link Emperor#deploy}) moves the vassals adopted
     * from the base's fork server to the new generation (default true). False
     * (--emperor-deploy-base-only) is uWSGI's behaviour: only the base restarts, and each vassal
     * runs the old code until it is started again for another reason.
     */
    public Builder deployAdopted(boolean move) {
      this.deployAdopted = move;
      return this;
    }

    /** --emperor-throttle: the blacklist throttle step (default 1 s). */
    public Builder throttle(Duration d) {
      this.throttle = d;
      return this;
    }

    /** --emperor-max-throttle: the largest blacklist throttle (default 3 min). */
    public Builder maxThrottle(Duration d) {
      this.maxThrottle = d;
      return this;
    }

    /** --emperor-heartbeat: a vassal silent this long after its first heartbeat is killed (default 30 s; ZERO: never). */
    public Builder heartbeat(Duration d) {
      this.heartbeat = d;
      return this;
    }

    /** --emperor-on-demand-extension EXT (appended to the config's path as is, e.g. ".socket"). */
    public Builder onDemandExtension(String ext) {
      this.onDemandExtension = ext;
      return this;
    }

    /** --emperor-on-demand-directory DIR: on-demand sockets are DIR/NAME.socket. */
    public Builder onDemandDirectory(Path dir) {
      this.onDemandDirectory = dir;
      return this;
    }

    /** --vassals-start-hook: run before each vassal starts, with its name as argument. */
    public Builder startHook(String command) {
      this.startHook = command;
      return this;
    }

    /** --vassals-stop-hook: run after each vassal dies, with its name as argument. */
    public Builder stopHook(String command) {
      this.stopHook = command;
      return this;
    }

    /**
     * How long a hook may run before it is killed, with every process of its process group (default
     * 60 s); the Emperor's stop waits for a running hook no longer than that.
     */
    public Builder hookTimeout(Duration d) {
      this.hookTimeout = d;
      return this;
    }

    /** --emperor-stats ADDR: host:port (port 0 picks one, see {@link Emperor#statsPort()}) or a UNIX path. */
    public Builder stats(String address) {
      this.stats = address;
      return this;
    }

    /** How long a loyal vassal that died unexpectedly waits before its respawn (default 0). */
    public Builder respawnDelay(Duration d) {
      this.respawnDelay = d;
      return this;
    }

    /** How long a fork server may take to answer one adoption (default 10 s); then it is retried. */
    public Builder adoptionTimeout(Duration d) {
      this.adoptionTimeout = d;
      return this;
    }

    /** Delays between retries of a failed start, and between probes of a fork server that does not answer. */
    public Builder retryBackoff(Duration initial, Duration max) {
      this.retryInitial = initial;
      this.retryMax = max;
      return this;
    }

    public Builder orphanScanInterval(Duration d) {
      this.orphanScanInterval = d;
      return this;
    }

    /** --emperor-freq: how often directory monitors rescan, besides file-system notifications (default 3 s). */
    public Builder rescanInterval(Duration d) {
      this.rescanInterval = d;
      return this;
    }

    /** Requests outstanding at once per fork server (default 32); the others queue, none is dropped. */
    public Builder maxConcurrentAdoptions(int n) {
      this.maxConcurrentAdoptions = n;
      return this;
    }

    /** Environment passed to spawned vassals and hooks (default: the JVM's). */
    public Builder environment(Map<String, String> env) {
      this.environment = env;
      return this;
    }

    /** @throws IllegalArgumentException or IllegalStateException naming what is wrong */
    public Emperor build() {
      if (monitors.isEmpty()) {
        throw new IllegalStateException("at least one monitor is required (e.g. vassalDirectory)");
      }
      Set<String> ids = new HashSet<>();
      for (Monitor m : monitors) {
        if (!ids.add(m.id())) {
          throw new IllegalArgumentException("two monitors share the id " + m.id());
        }
      }
      if (binaryPath == null || binaryPath.isEmpty()) {
        throw new IllegalStateException("binaryPath is required");
      }
      if (forkServerSocket != null) {
        new ForkServerClient(forkServerSocket); // validates the path
      }
      for (Duration d : List.of(reloadMercy, throttle, maxThrottle, heartbeat, hookTimeout, respawnDelay,
          adoptionTimeout, retryInitial, retryMax, orphanScanInterval, rescanInterval)) {
        if (d.isNegative()) {
          throw new IllegalArgumentException("negative duration " + d);
        }
      }
      if (deployBatch < 1) {
        throw new IllegalArgumentException("deployBatch must be at least 1");
      }
      if (maxConcurrentAdoptions < 1) {
        throw new IllegalArgumentException("maxConcurrentAdoptions must be at least 1");
      }
      Optional<ListenAddress> statsAddress = Optional.ofNullable(stats).map(ListenAddress::parse);
      return new Emperor(new EmperorConfig(
          Optional.ofNullable(forkServerSocket).map(p -> p.toAbsolutePath().normalize()), forkBases,
          Optional.ofNullable(forkServerAttribute), collectAttributes, resolveBinary(binaryPath, environment),
          reloadMercy, gracefulShutdown, throttle, maxThrottle, heartbeat, Optional.ofNullable(onDemandExtension),
          Optional.ofNullable(onDemandDirectory).map(p -> p.toAbsolutePath().normalize()),
          Optional.ofNullable(startHook), Optional.ofNullable(stopHook), hookTimeout, statsAddress, respawnDelay,
          adoptionTimeout, retryInitial, retryMax, orphanScanInterval, rescanInterval, maxConcurrentAdoptions,
          holdSockets != null ? holdSockets : servesInheritedSockets(binaryPath), deployBatch, deployAdopted,
          environment), monitors);
    }

    /** Whether {@code binary} is psgi-vassal (by name), which takes a held socket at fd 0. */
    static boolean servesInheritedSockets(String binary) {
      return Path.of(binary).getFileName().toString().startsWith("psgi-vassal");
    }

    /** posix_spawn does no PATH search, and argv[0] must be the same string the fork server gets. */
    static String resolveBinary(String binary, Map<String, String> env) {
      if (binary.contains("/")) {
        return Path.of(binary).toAbsolutePath().normalize().toString();
      }
      for (String dir : env.getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin").split(File.pathSeparator)) {
        Path candidate = Path.of(dir.isEmpty() ? "." : dir, binary);
        if (Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
          return candidate.toAbsolutePath().normalize().toString();
        }
      }
      throw new IllegalArgumentException("binary " + binary + " not found in PATH");
    }
  }
}
