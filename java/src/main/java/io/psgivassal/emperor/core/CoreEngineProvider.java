package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.EmperorConfig;
import io.psgivassal.emperor.api.EngineProvider;
import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.monitor.DirectoryWatcher;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** This engine, as the API finds it through {@link java.util.ServiceLoader}. */
public final class CoreEngineProvider implements EngineProvider {
  @Override
  public Engine engine(EmperorConfig config, List<Monitor> monitors) {
    return new EmperorEngine(config, monitors);
  }

  @Override
  public Monitor directoryWatcher(String id, Path dir, Optional<PathMatcher> glob) {
    return new DirectoryWatcher(id, dir, glob);
  }

  @Override
  public String resolveBinary(String binary, Map<String, String> environment) {
    return Binaries.resolve(binary, environment);
  }
}
