package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.PosixSpawn;
import io.psgivassal.emperor.natives.UnixSockets;
import java.io.Closeable;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Starts a vassal with posix_spawn, laid out as uWSGI's Emperor lays out a forked vassal: fd 0
 * is the on-demand socket (or /dev/null), the Emperor pipe is fd 3 (UWSGI_EMPEROR_FD) and the
 * config pipe, if any, fd 4 (UWSGI_EMPEROR_FD_CONFIG). Nothing else is inherited.
 */
final class PlainSpawner implements Closeable {
  static final int EMPEROR_FD = 3;
  static final int CONFIG_FD = 4;

  private final String binary;
  private final Map<String, String> environment;
  private final Map<String, String> environmentWithConfig;
  private final int devNull;
  private boolean closed;

  PlainSpawner(String binary, Map<String, String> inheritedEnvironment) {
    this.binary = binary;
    Map<String, String> env = new HashMap<>();
    for (Map.Entry<String, String> e : inheritedEnvironment.entrySet()) {
      String k = e.getKey();
      if (k.startsWith("UWSGI_EMPEROR_")) {
        continue; // our own Emperor's descriptors (if the JVM is itself a vassal) mean nothing to ours
      }
      if (k.startsWith("UWSGI_VASSAL_")) {
        // uWSGI hands UWSGI_VASSAL_FOO to its vassals as UWSGI_FOO: per-vassal-tree options
        env.put("UWSGI_" + k.substring("UWSGI_VASSAL_".length()), e.getValue());
        continue;
      }
      env.putIfAbsent(k, e.getValue());
    }
    env.put("UWSGI_EMPEROR_FD", Integer.toString(EMPEROR_FD));
    this.environment = Map.copyOf(env);
    env.put("UWSGI_EMPEROR_FD_CONFIG", Integer.toString(CONFIG_FD));
    this.environmentWithConfig = Map.copyOf(env);
    this.devNull = FileDescriptors.openDevNull();
  }

  /** A spawned process and the Emperor's ends of its pipes (configEnd -1 without a config pipe). */
  record Spawned(int pid, int emperorEnd, int configEnd) {}

  /**
   * @param onDemandFd the listening socket to place at fd 0, or -1
   * @throws io.psgivassal.emperor.natives.NativeException naming the failing call
   */
  Spawned spawn(List<String> argv, boolean configPipe, int onDemandFd) {
    int[] pipe = UnixSockets.socketPair();
    int[] config = null;
    try {
      Map<Integer, Integer> fds = new HashMap<>();
      fds.put(0, onDemandFd >= 0 ? onDemandFd : devNull);
      fds.put(EMPEROR_FD, pipe[1]);
      if (configPipe) {
        config = UnixSockets.socketPair();
        fds.put(CONFIG_FD, config[1]);
      }
      int pid = PosixSpawn.spawn(new PosixSpawn.Request(binary, argv, configPipe ? environmentWithConfig : environment, fds));
      FileDescriptors.close(pipe[1]);
      if (config != null) {
        FileDescriptors.close(config[1]);
      }
      return new Spawned(pid, pipe[0], config == null ? -1 : config[0]);
    } catch (RuntimeException e) {
      FileDescriptors.closeQuietly(pipe[0]);
      FileDescriptors.closeQuietly(pipe[1]);
      if (config != null) {
        FileDescriptors.closeQuietly(config[0]);
        FileDescriptors.closeQuietly(config[1]);
      }
      throw e;
    }
  }

  /** Idempotent: a descriptor number closed twice could be someone else's by then. */
  @Override
  public void close() {
    if (!closed) {
      closed = true;
      FileDescriptors.closeQuietly(devNull);
    }
  }
}
