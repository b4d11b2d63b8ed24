package io.psgivassal.emperor.api;

import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The service interface between this package and the engine that does the work, found through
 * {@link java.util.ServiceLoader}: the engine uses the API's types, so the API reaching for the engine's
 * classes would make the two packages depend on each other. Host programs use {@link Emperor} and
 * {@link DirectoryMonitor}; this interface is public only so that the engine can implement it, and
 * may change in any release.
 */
public interface EngineProvider {
  /** The engine of one {@link Emperor}: its {@code Service} methods and what it reports. */
  interface Engine {
    void startUp();

    void run();

    void triggerShutdown();

    void shutDown() throws InterruptedException;

    List<VassalView> vassals();

    List<BlacklistEntry> blacklist();

    EmperorStatus status();

    List<DeployView> deploys();

    CompletableFuture<Void> deploy(String baseName);

    CompletableFuture<Integer> reloadAll();

    CompletableFuture<Void> reload(String name);

    CompletableFuture<Void> stop(String name);

    CompletableFuture<Void> start(String name);

    AdoptionLatencies adoptionLatencies();

    OptionalInt statsPort();

    void addListener(VassalListener listener, Executor executor);
  }

  /** @throws IllegalArgumentException naming what in {@code config} cannot work */
  Engine engine(EmperorConfig config, List<Monitor> monitors);

  /** The watcher behind a {@link DirectoryMonitor}. */
  Monitor directoryWatcher(String id, Path dir, Optional<PathMatcher> glob);

  /**
   * {@code binary} as posix_spawn needs it: absolute, found in {@code environment}'s PATH when it
   * has no slash.
   *
   * @throws IllegalArgumentException naming the binary, when it is not in PATH
   */
  String resolveBinary(String binary, Map<String, String> environment);
}
