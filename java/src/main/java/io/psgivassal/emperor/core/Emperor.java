package io.psgivassal.emperor.core;

import com.google.common.collect.ImmutableList;
import com.google.common.util.concurrent.AbstractExecutionThreadService;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.Prctl;
import java.io.File;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A uWSGI-2.1-compatible Emperor as a Guava {@code Service}. Its one thread runs the event loop
 * that serves every vassal; stopping it stops the vassals (adopted ones first), waits up to the
 * reload mercy, kills what is left, and returns from {@code awaitTerminated()} only once no
 * vassal process of ours is left.
 */
public final class Emperor extends AbstractExecutionThreadService {
  private static final Logger log = LoggerFactory.getLogger(Emperor.class);
  private static final int MAX_EVENTS = 64;
  private static final long MAX_WAIT_MILLIS = 1000;

  private final EmperorConfig config;
  private final Listeners listeners = new Listeners();
  private volatile List<VassalView> snapshot = List.of();
  private volatile boolean shutdownRequested;
  private volatile EventLoop loop;
  private Supervisor supervisor;
  private OrphanReaper reaper;
  private List<VassalSpec> specs;

  private Emperor(EmperorConfig config) {
    this.config = config;
  }

  public static Builder builder() {
    return new Builder();
  }

  public EmperorConfig config() {
    return config;
  }

  /** The current state of every vassal, in configuration order. */
  public List<VassalView> vassals() {
    return snapshot;
  }

  public Optional<VassalView> vassal(String name) {
    return snapshot.stream().filter(v -> v.name().equals(name)).findFirst();
  }

  /** Events are delivered in order on {@code executor}; the loop thread never waits for them. */
  public void addListener(VassalListener listener, Executor executor) {
    listeners.add(Objects.requireNonNull(listener), Objects.requireNonNull(executor));
  }

  @Override
  protected String serviceName() {
    return "Emperor";
  }

  @Override
  protected void startUp() throws IOException {
    Prctl.setChildSubreaper(true);
    specs = scanDirectory();
    reaper = new OrphanReaper((int) ProcessHandle.current().pid(), FileDescriptors.ownSessionId());
    loop = new EventLoop(MAX_EVENTS);
    supervisor = new Supervisor(config, loop, listeners, views -> snapshot = views);
    log.info("Emperor started on {}: {} vassal(s){}", config.vassalDirectory(), specs.size(),
        config.forkServerSocket().map(s -> ", fork server " + s).orElse(""));
  }

  /** The directory is read once: *.ini files, bases by name, the rest adopted (if a fork server is configured). */
  private List<VassalSpec> scanDirectory() throws IOException {
    List<Path> inis = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(config.vassalDirectory(), "*.ini")) {
      dir.forEach(p -> {
        if (Files.isRegularFile(p)) {
          inis.add(p);
        }
      });
    }
    inis.sort(null);
    List<VassalSpec> specs = new ArrayList<>();
    for (Path p : inis) {
      boolean base = config.forkBaseNames().contains(p.getFileName().toString()) || config.forkServerSocket().isEmpty();
      specs.add(base ? VassalSpec.base(p) : VassalSpec.adopted(p));
    }
    for (String name : config.forkBaseNames()) {
      if (specs.stream().noneMatch(s -> s.name().equals(name))) {
        log.warn("fork base {} is not a *.ini file in {}", name, config.vassalDirectory());
      }
    }
    return specs;
  }

  @Override
  protected void run() {
    // Started here, not in startUp(): a service stopped while STARTING skips run() but still
    // gets shutDown(), which then has no vassals to deal with.
    supervisor.start(specs);
    if (shutdownRequested) {
      supervisor.beginShutdown();
    }
    EventLoop.Timer[] orphanScan = new EventLoop.Timer[1];
    Runnable scan = new Runnable() {
      @Override
      public void run() {
        if (!supervisor.adoptionInFlight()) {
          reaper.reapZombies(supervisor.vassalPids());
        }
        orphanScan[0] = loop.schedule(config.orphanScanInterval().toMillis(), TimeUnit.MILLISECONDS, this);
      }
    };
    orphanScan[0] = loop.schedule(config.orphanScanInterval().toMillis(), TimeUnit.MILLISECONDS, scan);
    while (!supervisor.finished()) {
      loop.runOnce(MAX_WAIT_MILLIS);
    }
    orphanScan[0].cancel();
  }

  @Override
  protected void triggerShutdown() {
    shutdownRequested = true;
    EventLoop l = loop;
    if (l != null) {
      l.execute(() -> supervisor.beginShutdown());
    }
  }

  @Override
  protected void shutDown() throws InterruptedException {
    if (supervisor == null) {
      return;
    }
    if (!supervisor.started()) {
      loop.close();
      return;
    }
    try {
      if (!supervisor.finished()) {
        log.error("Emperor loop ended abnormally: killing all vassals");
        supervisor.killAllNow(5000);
      }
      supervisor.closeAll();
      reaper.killOrphans(supervisor.vassalPids(), 2000);
    } finally {
      loop.close();
      log.info("Emperor stopped");
    }
  }

  /** Builds an {@link Emperor}; only the vassal directory and the binary are required. */
  public static final class Builder {
    private Path vassalDirectory;
    private Path forkServerSocket;
    private final Set<String> forkBases = new LinkedHashSet<>();
    private String binaryPath;
    private Duration reloadMercy = Duration.ofSeconds(30);
    private Duration respawnDelay = Duration.ofSeconds(1);
    private Duration adoptionTimeout = Duration.ofSeconds(10);
    private Duration retryInitial = Duration.ofMillis(100);
    private Duration retryMax = Duration.ofSeconds(2);
    private Duration orphanScanInterval = Duration.ofSeconds(1);
    private Map<String, String> environment = System.getenv();

    private Builder() {}

    /** Directory whose *.ini files are the vassals (uWSGI's --emperor DIR). */
    public Builder vassalDirectory(Path dir) {
      this.vassalDirectory = dir;
      return this;
    }

    /** The fork server's UNIX socket (--emperor-use-fork-server); without it every vassal is spawned. */
    public Builder forkServerSocket(Path socket) {
      this.forkServerSocket = socket;
      return this;
    }

    /** A config file name spawned directly rather than adopted (--vassal-fork-base); repeatable. */
    public Builder forkBase(String fileName) {
      this.forkBases.add(fileName);
      return this;
    }

    public Builder forkBases(Collection<String> fileNames) {
      this.forkBases.addAll(fileNames);
      return this;
    }

    /** The vassal program (--binary-path); a bare name is looked up in PATH. */
    public Builder binaryPath(String binary) {
      this.binaryPath = binary;
      return this;
    }

    public Builder reloadMercy(Duration d) {
      this.reloadMercy = d;
      return this;
    }

    public Builder respawnDelay(Duration d) {
      this.respawnDelay = d;
      return this;
    }

    public Builder adoptionTimeout(Duration d) {
      this.adoptionTimeout = d;
      return this;
    }

    public Builder retryBackoff(Duration initial, Duration max) {
      this.retryInitial = initial;
      this.retryMax = max;
      return this;
    }

    public Builder orphanScanInterval(Duration d) {
      this.orphanScanInterval = d;
      return this;
    }

    /** Environment passed to spawned vassals (default: the JVM's). */
    public Builder environment(Map<String, String> env) {
      this.environment = env;
      return this;
    }

    public Emperor build() {
      if (vassalDirectory == null) {
        throw new IllegalStateException("vassalDirectory is required");
      }
      if (binaryPath == null || binaryPath.isEmpty()) {
        throw new IllegalStateException("binaryPath is required");
      }
      if (forkServerSocket != null) {
        new io.psgivassal.emperor.forkserver.ForkServerClient(forkServerSocket); // validates the path
      }
      return new Emperor(new EmperorConfig(vassalDirectory.toAbsolutePath(), Optional.ofNullable(forkServerSocket)
          .map(Path::toAbsolutePath), forkBases, resolveBinary(binaryPath, environment), reloadMercy, respawnDelay,
          adoptionTimeout, retryInitial, retryMax, orphanScanInterval, environment));
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
