package io.psgivassal.emperor.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Settings of an {@link Emperor}, as assembled by {@link Emperor.Builder}; each mirrors a uWSGI
 * option (named in the builder's javadoc).
 */
public record EmperorConfig(
    Optional<Path> forkServerSocket,
    Set<String> forkBaseNames,
    Optional<String> forkServerAttribute,
    Set<String> collectAttributes,
    String binaryPath,
    Duration reloadMercy,
    boolean gracefulShutdown,
    Duration throttle,
    Duration maxThrottle,
    Duration heartbeat,
    Optional<String> onDemandExtension,
    Optional<Path> onDemandDirectory,
    Optional<String> startHook,
    Optional<String> stopHook,
    Duration hookTimeout,
    Optional<ListenAddress> stats,
    Duration respawnDelay,
    Duration adoptionTimeout,
    Duration retryInitial,
    Duration retryMax,
    Duration orphanScanInterval,
    Duration rescanInterval,
    int maxConcurrentAdoptions,
    boolean holdSockets,
    int deployBatch,
    boolean deployAdopted,
    Map<String, String> environment) {

  public EmperorConfig {
    forkBaseNames = Set.copyOf(forkBaseNames);
    collectAttributes = Set.copyOf(collectAttributes);
    environment = Map.copyOf(environment);
  }

  /** Whether the vassal binary is psgi-vassal (by name), which takes a held socket at fd 0. */
  public boolean binaryServesInheritedSockets() {
    return servesInheritedSockets(binaryPath);
  }

  static boolean servesInheritedSockets(String binary) {
    return Path.of(binary).getFileName().toString().startsWith("psgi-vassal");
  }
}
