package io.psgivassal.emperor.core;

import java.nio.file.Path;

/** What to run: a vassal's name (its config file name), its config, and how it is started. */
public record VassalSpec(String name, Path configPath, Kind kind) {
  public enum Kind {
    /** Spawned by the Emperor itself with posix_spawn (a fork base runs a fork server). */
    BASE,
    /** Requested from the fork server and adopted when its double-forked process re-parents to us. */
    ADOPTED
  }

  public VassalSpec {
    configPath = configPath.toAbsolutePath().normalize();
  }

  public static VassalSpec base(Path config) {
    return new VassalSpec(config.getFileName().toString(), config, Kind.BASE);
  }

  public static VassalSpec adopted(Path config) {
    return new VassalSpec(config.getFileName().toString(), config, Kind.ADOPTED);
  }

  public boolean adopted() {
    return kind == Kind.ADOPTED;
  }
}
