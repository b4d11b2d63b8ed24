package io.psgivassal.emperor.natives;

import com.sun.jna.Memory;
import com.sun.jna.StringArray;
import com.sun.jna.ptr.IntByReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * posix_spawn(3) with the attributes every vassal gets. The JVM never fork()s: a forked copy of a
 * multi-threaded JVM may deadlock before exec, and glibc's posix_spawn uses CLONE_VFORK, which is
 * cheap and safe.
 */
public final class PosixSpawn {
  private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
  private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
  private static final short POSIX_SPAWN_SETSID = 0x80;

  // glibc x86_64: posix_spawnattr_t is 336 bytes, posix_spawn_file_actions_t 80, sigset_t 128.
  // Allocated with headroom; the library initialises them itself.
  private static final int ATTR_SIZE = 512;
  private static final int ACTIONS_SIZE = 256;
  private static final int SIGSET_SIZE = 128;

  /** Sources below this are moved out of the way before being dup2'ed onto the low targets. */
  private static final int SAFE_FD_FLOOR = 10;

  private PosixSpawn() {}

  /**
   * What to start. {@code inherit} maps child descriptor number to the parent descriptor placed
   * there; the child keeps 0, 1, 2 (unless mapped) plus exactly these, everything else is closed.
   * {@code newSession}: setsid in the child (every vassal); without it the child stays in the
   * caller's session and process group.
   */
  public record Request(String path, List<String> argv, Map<String, String> env, Map<Integer, Integer> inherit,
      boolean newSession) {
    /** A request for a new session, as every vassal gets. */
    public Request(String path, List<String> argv, Map<String, String> env, Map<Integer, Integer> inherit) {
      this(path, argv, env, inherit, true);
    }

    public Request {
      argv = List.copyOf(argv);
      env = Map.copyOf(env);
      inherit = Map.copyOf(inherit);
      if (argv.isEmpty()) {
        throw new IllegalArgumentException("argv must not be empty");
      }
    }
  }

  /**
   * Spawns the request (in a new session unless it says otherwise), with an empty signal mask and every signal at its
   * default disposition (the JVM blocks and handles several; a vassal must not inherit that).
   *
   * @return the child's pid
   * @throws NativeException naming the failing posix_spawn step, e.g. exec's ENOENT
   */
  public static int spawn(Request request) {
    TreeMap<Integer, Integer> targets = new TreeMap<>(request.inherit());
    int maxTarget = targets.isEmpty() ? 2 : Math.max(2, targets.lastKey());
    List<Integer> temporaries = new ArrayList<>();
    try (Memory actions = new Memory(ACTIONS_SIZE);
        Memory attr = new Memory(ATTR_SIZE);
        Memory empty = new Memory(SIGSET_SIZE);
        Memory all = new Memory(SIGSET_SIZE)) {
      check("posix_spawn_file_actions_init", LibC.INSTANCE.posix_spawn_file_actions_init(actions));
      try {
        check("posix_spawnattr_init", LibC.INSTANCE.posix_spawnattr_init(attr));
        try {
          for (Map.Entry<Integer, Integer> e : targets.entrySet()) {
            int source = e.getValue();
            // A source that sits in the target range could be overwritten by an earlier dup2
            // (e.g. a pipe at fd 3 meant for 4 while something else goes to 3): move it high first.
            if (source <= maxTarget) {
              source = FileDescriptors.dupCloexec(source, SAFE_FD_FLOOR);
              temporaries.add(source);
            }
            check("posix_spawn_file_actions_adddup2",
                LibC.INSTANCE.posix_spawn_file_actions_adddup2(actions, source, e.getKey()));
          }
          for (int fd = 3; fd <= maxTarget; fd++) {
            if (!targets.containsKey(fd)) {
              check("posix_spawn_file_actions_addclose", LibC.INSTANCE.posix_spawn_file_actions_addclose(actions, fd));
            }
          }
          check("posix_spawn_file_actions_addclosefrom_np",
              LibC.INSTANCE.posix_spawn_file_actions_addclosefrom_np(actions, maxTarget + 1));

          check("sigemptyset", LibC.INSTANCE.sigemptyset(empty) == 0 ? 0 : com.sun.jna.Native.getLastError());
          check("sigfillset", LibC.INSTANCE.sigfillset(all) == 0 ? 0 : com.sun.jna.Native.getLastError());
          check("posix_spawnattr_setsigmask", LibC.INSTANCE.posix_spawnattr_setsigmask(attr, empty));
          check("posix_spawnattr_setsigdefault", LibC.INSTANCE.posix_spawnattr_setsigdefault(attr, all));
          check("posix_spawnattr_setflags", LibC.INSTANCE.posix_spawnattr_setflags(attr,
              (short) (POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (request.newSession() ? POSIX_SPAWN_SETSID : 0))));

          IntByReference pid = new IntByReference();
          StringArray argv = new StringArray(request.argv().toArray(new String[0]), "UTF-8");
          StringArray envp = new StringArray(envp(request.env()), "UTF-8");
          check("posix_spawn", LibC.INSTANCE.posix_spawn(pid, request.path(), actions, attr, argv, envp));
          return pid.getValue();
        } finally {
          LibC.INSTANCE.posix_spawnattr_destroy(attr);
        }
      } finally {
        LibC.INSTANCE.posix_spawn_file_actions_destroy(actions);
        temporaries.forEach(FileDescriptors::closeQuietly);
      }
    }
  }

  private static String[] envp(Map<String, String> env) {
    return env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).sorted().toArray(String[]::new);
  }

  /** The posix_spawn family returns the error number instead of setting errno. */
  private static void check(String call, int rc) {
    if (rc != 0) {
      throw new NativeException(call, rc);
    }
  }
}
