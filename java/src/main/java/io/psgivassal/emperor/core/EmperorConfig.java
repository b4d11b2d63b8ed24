package io.psgivassal.emperor.core;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** Settings of an {@link Emperor}, as assembled by {@link Emperor.Builder}. */
public record EmperorConfig(
    Path vassalDirectory,
    Optional<Path> forkServerSocket,
    Set<String> forkBaseNames,
    String binaryPath,
    Duration reloadMercy,
    Duration respawnDelay,
    Duration adoptionTimeout,
    Duration retryInitial,
    Duration retryMax,
    Duration orphanScanInterval,
    Map<String, String> environment) {

  public EmperorConfig {
    forkBaseNames = Set.copyOf(forkBaseNames);
    environment = Map.copyOf(environment);
  }
}
