package io.psgivassal.emperor.api;

import com.google.common.util.concurrent.AbstractExecutionThreadService;
import java.nio.file.Path;
import java.time.Duration;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

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
  private final EmperorConfig config;
  private final List<Monitor> monitors;
  private final EngineProvider.Engine engine;

  private Emperor(EmperorConfig config, List<Monitor> monitors) {
    this.config = config;
    this.monitors = List.copyOf(monitors);
    this.engine = Engines.provider().engine(config, this.monitors);
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
    return engine.vassals();
  }

  public Optional<VassalView> vassal(String name) {
    return vassals().stream().filter(v -> v.name().equals(name)).findFirst();
  }

  /** Vassals that died before they were loyal, with their throttle. */
    public List<BlacklistEntry> blacklist() {
    return engine.blacklist();
  }

  /** Everything the stats socket reports. */
    public EmperorStatus status() {
    return engine.status();
  }

  /** Deploys under way (see {@link #deploy}). */
    public List<DeployView> deploys() {
    return engine.deploys();
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
    public CompletableFuture<Void> deploy(String baseName) {
    if (!isRunning()) {
      return CompletableFuture.failedFuture(new IllegalStateException("the Emperor is not running"));
    }
    return engine.deploy(baseName);
  }

  /**
   * The TCP port of the stats server (useful when it was asked for port 0); empty without a TCP
   * stats server, and once the Emperor has closed it (stopping).
   */
    public OptionalInt statsPort() {
    return engine.statsPort();
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
    engine.addListener(Objects.requireNonNull(listener), Objects.requireNonNull(executor));
  }

  /**
   * Reloads every vassal, as uWSGI's Emperor does on SIGHUP: each as if its config had been
   * touched (a next generation beside the running one with a held socket, else byte 1). A base's
   * reload is a deploy, which moves its adopted vassals itself.
   *
   * @return completes with how many vassals started reloading; exceptionally if the Emperor is
   *     not running
   */
  public CompletableFuture<Integer> reloadAll() {
    if (!isRunning()) {
      return CompletableFuture.failedFuture(new IllegalStateException("the Emperor is not running"));
    }
    return engine.reloadAll();
  }

  /**
   * Reloads vassal {@code name} as a change of its config would: its next generation beside it
   * with a held socket, else byte 1; a base vassal's reload is a deploy.
   *
   * @return completes when the reload has started; exceptionally (IllegalArgumentException) if
   *     there is no such running vassal, or the Emperor is not running
   */
  public CompletableFuture<Void> reload(String name) {
    if (!isRunning()) {
      return CompletableFuture.failedFuture(new IllegalStateException("the Emperor is not running"));
    }
    return engine.reload(name);
  }

  /**
   * Stops vassal {@code name} (byte 0, or 2 when graceful; SIGKILL after the reload mercy); it
   * stays stopped ({@link VassalState#IDLE}) until {@link #start} or a change of its config.
   *
   * @return completes when the stop has started; exceptionally (IllegalArgumentException) if
   *     there is no such running vassal, or the Emperor is not running
   */
  public CompletableFuture<Void> stop(String name) {
    if (!isRunning()) {
      return CompletableFuture.failedFuture(new IllegalStateException("the Emperor is not running"));
    }
    return engine.stop(name);
  }

  /**
   * Starts vassal {@code name} now if it waits: stopped, idle, dead or throttled.
   *
   * @return completes when the start has begun; exceptionally (IllegalArgumentException) if there
   *     is no such vassal or it is not waiting, or the Emperor is not running
   */
  public CompletableFuture<Void> start(String name) {
    if (!isRunning()) {
      return CompletableFuture.failedFuture(new IllegalStateException("the Emperor is not running"));
    }
    return engine.start(name);
  }

  /**
   * How long adoptions from fork servers have taken so far, as histogram data: from a start's
   * first fork-server request to the adopted process attached.
   */
  public AdoptionLatencies adoptionLatencies() {
    return engine.adoptionLatencies();
  }

  /**
   * This library's version: the module's when it runs as one, else its jar manifest's
   * Implementation-Version; "unknown" from bare class directories.
   */
  public static String version() {
    Module m = Emperor.class.getModule();
    Optional<String> v = m.isNamed() ? m.getDescriptor().rawVersion()
        : Optional.ofNullable(Emperor.class.getPackage().getImplementationVersion());
    return v.orElse("unknown");
  }

  @Override
  protected String serviceName() {
    return "Emperor";
  }

  @Override
  protected void startUp() {
    engine.startUp();
  }

  @Override
  protected void run() {
    engine.run();
  }

  @Override
  protected void triggerShutdown() {
    engine.triggerShutdown();
  }

  @Override
  protected void shutDown() throws InterruptedException {
    engine.shutDown();
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
    private Duration reloadMercy = Defaults.RELOAD_MERCY;
    private boolean gracefulShutdown;
    private Boolean holdSockets;
    private int deployBatch = Defaults.DEPLOY_BATCH;
    private boolean deployAdopted = true;
    private Duration throttle = Defaults.THROTTLE;
    private Duration maxThrottle = Defaults.MAX_THROTTLE;
    private Duration heartbeat = Defaults.HEARTBEAT;
    private String onDemandExtension;
    private Path onDemandDirectory;
    private String startHook;
    private String stopHook;
    private Duration hookTimeout = Defaults.HOOK_TIMEOUT;
    private String stats;
    private Duration respawnDelay = Defaults.RESPAWN_DELAY;
    private Duration adoptionTimeout = Defaults.ADOPTION_TIMEOUT;
    private Duration retryInitial = Defaults.RETRY_INITIAL;
    private Duration retryMax = Defaults.RETRY_MAX;
    private Duration orphanScanInterval = Defaults.ORPHAN_SCAN_INTERVAL;
    private Duration rescanInterval = Defaults.RESCAN_INTERVAL;
    private int maxConcurrentAdoptions = Defaults.MAX_CONCURRENT_ADOPTIONS;
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

    /** --reload-mercy: how long a stopping vassal may take before SIGKILL ({@link Defaults#RELOAD_MERCY}). */
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
     * ({@link Defaults#DEPLOY_BATCH}: a new generation costs the base one fork and the vassal its first worker, so a
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

    /** --emperor-throttle: the blacklist throttle step ({@link Defaults#THROTTLE}). */
    public Builder throttle(Duration d) {
      this.throttle = d;
      return this;
    }

    /** --emperor-max-throttle: the largest blacklist throttle ({@link Defaults#MAX_THROTTLE}). */
    public Builder maxThrottle(Duration d) {
      this.maxThrottle = d;
      return this;
    }

    /** --emperor-heartbeat: a vassal silent this long after its first heartbeat is killed ({@link Defaults#HEARTBEAT}; ZERO: never). */
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
     * How long a hook may run before it is killed, with every process of its process group
     * ({@link Defaults#HOOK_TIMEOUT}); the Emperor's stop waits for a running hook no longer than that.
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

    /** How long a loyal vassal that died unexpectedly waits before its respawn ({@link Defaults#RESPAWN_DELAY}). */
    public Builder respawnDelay(Duration d) {
      this.respawnDelay = d;
      return this;
    }

    /** How long a fork server may take to answer one adoption ({@link Defaults#ADOPTION_TIMEOUT}); then it is retried. */
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

    /** --emperor-freq: how often directory monitors rescan, besides file-system notifications ({@link Defaults#RESCAN_INTERVAL}). */
    public Builder rescanInterval(Duration d) {
      this.rescanInterval = d;
      return this;
    }

    /** Requests outstanding at once per fork server ({@link Defaults#MAX_CONCURRENT_ADOPTIONS}); the others queue, none is dropped. */
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
          Optional.ofNullable(forkServerAttribute), collectAttributes, Engines.provider().resolveBinary(binaryPath, environment),
          reloadMercy, gracefulShutdown, throttle, maxThrottle, heartbeat, Optional.ofNullable(onDemandExtension),
          Optional.ofNullable(onDemandDirectory).map(p -> p.toAbsolutePath().normalize()),
          Optional.ofNullable(startHook), Optional.ofNullable(stopHook), hookTimeout, statsAddress, respawnDelay,
          adoptionTimeout, retryInitial, retryMax, orphanScanInterval, rescanInterval, maxConcurrentAdoptions,
          holdSockets != null ? holdSockets : EmperorConfig.servesInheritedSockets(binaryPath), deployBatch, deployAdopted,
          environment), monitors);
    }
  }
}
