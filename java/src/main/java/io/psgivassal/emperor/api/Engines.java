package io.psgivassal.emperor.api;

import java.util.ServiceLoader;

/** The one {@link EngineProvider}, loaded at first use. */
final class Engines {
  private static final EngineProvider PROVIDER = ServiceLoader.load(EngineProvider.class,
      EngineProvider.class.getClassLoader()).findFirst().orElseThrow(() -> new IllegalStateException(
          "no " + EngineProvider.class.getName() + " found: the emperor jar is incomplete"));

  private Engines() {}

  static EngineProvider provider() {
    return PROVIDER;
  }
}
