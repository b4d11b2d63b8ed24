package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.PosixSpawn;
import io.psgivassal.emperor.natives.UnixSockets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Starts a vassal directly with posix_spawn, the Emperor pipe at fd 3. */
final class BaseSpawner {
  /** Where a spawned vassal finds its end of the Emperor pipe, as in uWSGI. */
  static final int EMPEROR_FD = 3;

  private final String binary;
  private final Map<String, String> environment;

  BaseSpawner(String binary, Map<String, String> inheritedEnvironment) {
    this.binary = binary;
    Map<String, String> env = new HashMap<>(inheritedEnvironment);
    // Our own Emperor (if the JVM is itself a vassal) must not leak its descriptors' numbers down.
    env.keySet().removeIf(k -> k.startsWith("UWSGI_EMPEROR_"));
    env.put("UWSGI_EMPEROR_FD", Integer.toString(EMPEROR_FD));
    this.environment = Map.copyOf(env);
  }

  static List<String> argv(String binary, VassalSpec spec) {
    return List.of(binary, "--ini", spec.configPath().toString());
  }

  /** A spawned process and the Emperor's end of its pipe. */
  record Spawned(int pid, int emperorEnd) {}

  Spawned spawn(VassalSpec spec) {
    int[] pair = UnixSockets.socketPair();
    try {
      int pid = PosixSpawn.spawn(new PosixSpawn.Request(binary, argv(binary, spec), environment, Map.of(EMPEROR_FD, pair[1])));
      FileDescriptors.close(pair[1]);
      return new Spawned(pid, pair[0]);
    } catch (RuntimeException e) {
      FileDescriptors.closeQuietly(pair[0]);
      FileDescriptors.closeQuietly(pair[1]);
      throw e;
    }
  }
}
