package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.Signals;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.exec.CommandLine;
import org.apache.commons.exec.DefaultExecutor;
import org.apache.commons.exec.LogOutputStream;
import org.apache.commons.exec.ProcessDestroyer;
import org.apache.commons.exec.PumpStreamHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs --vassals-start-hook and --vassals-stop-hook through Apache Commons Exec, as uWSGI does:
 * the command with the vassal's name as its argument, plus UWSGI_VASSAL_CONFIG and
 * UWSGI_VASSAL_PID in its environment. Hooks run on a small pool, never on the event loop; the
 * outcome (exit status, failure, timeout) is logged on the loop thread, where a start hook's
 * completion also lets the vassal start.
 *
 * <p>A hook that hangs is killed at the hook timeout, with whatever it started: each hook runs
 * through {@code setsid -w} (util-linux) in a process group of its own, and its watchdog SIGKILLs
 * that group. (Commons Exec's own watchdog only calls {@code Process.destroy()}: a SIGTERM to the
 * hook alone, which a hook may ignore and which never reaches its children.) A hook that ends by
 * itself keeps the children it left behind, as in uWSGI.
 */
final class HookRunner implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HookRunner.class);
  private static final int MAX_THREADS = 4;
  /** How long a killed hook takes to be gone: its reaping and the end of its output. */
  static final Duration AFTER_KILL = Duration.ofSeconds(3);

  private final Optional<String> startHook;
  private final Optional<String> stopHook;
  private final Duration timeout;
  private final Map<String, String> environment;
  private final Executor loop;
  private final ThreadPoolExecutor pool;
  private final ScheduledThreadPoolExecutor watchdogs;
  /** setsid(1), or null: without it a hook shares the JVM's process group, and only the hook itself is killed. */
  private final String setsid;
  private final Set<GroupWatchdog> live = ConcurrentHashMap.newKeySet();
  private final AtomicInteger running = new AtomicInteger();

  /** How one hook run ended. */
  record Result(String what, String vassal, int exitValue, boolean timedOut, String error) {
    boolean ok() {
      return error == null && !timedOut && exitValue == 0;
    }

    @Override
    public String toString() {
      if (timedOut) {
        return what + " for " + vassal + " hung and was killed at the hook timeout (SIGKILL to its process group)";
      }
      if (error != null) {
        return what + " for " + vassal + " could not run: " + error;
      }
      return what + " for " + vassal + " exited with status " + exitValue;
    }
  }

  HookRunner(Optional<String> startHook, Optional<String> stopHook, Duration timeout, Map<String, String> environment,
      Executor loop) {
    this.startHook = startHook;
    this.stopHook = stopHook;
    this.timeout = timeout;
    this.environment = Map.copyOf(environment);
    this.loop = loop;
    AtomicInteger n = new AtomicInteger();
    ThreadFactory threads = r -> {
      Thread t = new Thread(r, "emperor-hook-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
    // threads exist only while hooks run: an Emperor without hooks has none
    this.pool = new ThreadPoolExecutor(MAX_THREADS, MAX_THREADS, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), threads);
    pool.allowCoreThreadTimeOut(true);
    this.watchdogs = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "emperor-hook-watchdog");
      t.setDaemon(true);
      return t;
    });
    watchdogs.setKeepAliveTime(10, TimeUnit.SECONDS);
    watchdogs.allowCoreThreadTimeOut(true);
    watchdogs.setRemoveOnCancelPolicy(true);
    this.setsid = startHook.isPresent() || stopHook.isPresent() ? findSetsid(this.environment) : null;
  }

  private static String findSetsid(Map<String, String> environment) {
    try {
      return Binaries.resolve("setsid", environment);
    } catch (IllegalArgumentException notInPath) {
      log.warn("setsid (util-linux) not in PATH: a hook that hangs is killed at the hook timeout, but not the"
          + " processes it started");
      return null;
    }
  }

  boolean hasStartHook() {
    return startHook.isPresent();
  }

  /** Hooks submitted and not finished yet. */
  boolean busy() {
    return running.get() > 0;
  }

  /**
   * Runs the start hook (if any), then {@code then} on the loop thread, whatever the outcome: a
   * failing hook is logged, it does not keep the vassal down (uWSGI ignores its status too).
   */
  void runStart(String vassal, String config, int pid, Runnable then) {
    if (startHook.isEmpty()) {
      then.run();
      return;
    }
    submit("start hook", startHook.get(), vassal, config, pid, then);
  }

  /** Runs the stop hook (if any) for a vassal that died. */
  void runStop(String vassal, String config, int pid) {
    stopHook.ifPresent(cmd -> submit("stop hook", cmd, vassal, config, pid, () -> {}));
  }

  private void submit(String what, String command, String vassal, String config, int pid, Runnable then) {
    running.incrementAndGet();
    try {
      pool.execute(() -> {
        Result r = execute(what, command, vassal, config, pid);
        deliver(r, then);
      });
    } catch (RejectedExecutionException stopped) {
      running.decrementAndGet();
      log.warn("{} for {} not run: the Emperor is stopping", what, vassal);
    }
  }

  private void deliver(Result r, Runnable then) {
    Runnable onLoop = () -> {
      running.decrementAndGet();
      if (r.ok()) {
        log.info("{}", r);
      } else {
        log.warn("{}", r);
      }
      then.run();
    };
    try {
      loop.execute(onLoop);
    } catch (RejectedExecutionException loopClosed) {
      running.decrementAndGet();
      log.info("{} (after the Emperor stopped)", r);
    }
  }

  private Result execute(String what, String command, String vassal, String config, int pid) {
    CommandLine cl;
    try {
      cl = CommandLine.parse(command);
    } catch (IllegalArgumentException e) {
      return new Result(what, vassal, -1, false, "bad command '" + command + "': " + e.getMessage());
    }
    cl.addArgument(vassal, false);
    if (setsid != null) {
      // setsid execs the hook in place (a child of the JVM is never a group leader, so it need not
      // fork): the hook's pid is its new session's and process group's id. -w: its status all the same.
      cl = new CommandLine(setsid).addArgument("-w").addArguments(cl.toStrings(), false);
    }
    Map<String, String> env = new HashMap<>(environment);
    env.put("UWSGI_VASSAL_CONFIG", config);
    // a start hook runs before the process exists: 0 says "none yet"
    env.put("UWSGI_VASSAL_PID", Integer.toString(pid));
    HookOutput out = new HookOutput(what, vassal);
    PumpStreamHandler streams = new PumpStreamHandler(out);
    // children that left the hook's process group may keep its stdout open after it ended: do not wait for them
    streams.setStopTimeout(Duration.ofSeconds(2));
    GroupWatchdog watchdog = new GroupWatchdog();
    DefaultExecutor executor = DefaultExecutor.builder().setExecuteStreamHandler(streams).get();
    executor.setProcessDestroyer(watchdog);
    executor.setExitValues(null); // every exit status is an outcome to log, not an exception
    try {
      int rc = executor.execute(cl, env);
      return new Result(what, vassal, rc, watchdog.killed(), null);
    } catch (IOException | RuntimeException e) {
      return new Result(what, vassal, -1, watchdog.killed(), e.getMessage());
    } finally {
      try {
        out.close();
      } catch (IOException ignored) {
        // a log sink
      }
    }
  }

  /**
   * Stops accepting hooks. The Emperor has already waited for the running ones (up to the hook
   * timeout, when each is killed anyway), so what still runs is killed now, with its process
   * group, and what still waits for a thread never runs: a hook never holds up the Emperor's stop
   * past the hook timeout.
   */
  @Override
  public void close() {
    pool.shutdown();
    try {
      if (!pool.awaitTermination(100, TimeUnit.MILLISECONDS)) {
        log.warn("{} hook(s) still running as the Emperor stops: killing them", live.size());
        live.forEach(GroupWatchdog::kill);
        int dropped = pool.shutdownNow().size();
        if (dropped > 0) {
          log.warn("{} hook(s) not run: the Emperor is stopping", dropped);
        }
        if (!pool.awaitTermination(AFTER_KILL.toMillis(), TimeUnit.MILLISECONDS)) {
          log.warn("hooks still running {} ms after SIGKILL; abandoning them", AFTER_KILL.toMillis());
        }
      }
    } catch (InterruptedException e) {
      live.forEach(GroupWatchdog::kill);
      pool.shutdownNow();
      Thread.currentThread().interrupt();
    } finally {
      watchdogs.shutdownNow();
    }
  }

  /**
   * One hook's watchdog. Commons Exec hands the process it starts to its ProcessDestroyer (and
   * takes it back once the process is reaped and its output read), which makes that the place
   * to learn the hook's pid and to arm the timeout.
   */
  private final class GroupWatchdog implements ProcessDestroyer {
    private Process process;
    private ScheduledFuture<?> timer;
    private boolean killed;

    @Override
    public synchronized boolean add(Process p) {
      process = p;
      live.add(this);
      try {
        timer = watchdogs.schedule(this::kill, timeout.toNanos(), TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException closed) {
        kill(); // the Emperor is past stopping its hooks
      }
      return true;
    }

    @Override
    public synchronized boolean remove(Process p) {
      if (timer != null) {
        timer.cancel(false);
      }
      live.remove(this);
      process = null;
      return true;
    }

    @Override
    public synchronized int size() {
      return process == null ? 0 : 1;
    }

    synchronized boolean killed() {
      return killed;
    }

    /** SIGKILL to the hook's process group, while its leader is alive (so its pid cannot be recycled). */
    synchronized void kill() {
      if (process == null || !process.isAlive()) {
        return;
      }
      killed = true;
      if (setsid != null) {
        try {
          Signals.killGroup((int) process.pid(), Signals.SIGKILL);
          return;
        } catch (NativeException e) {
          // ESRCH: setsid has not made the group yet, so there is only the hook itself
        }
      }
      process.destroyForcibly();
    }
  }

  /** A hook's stdout and stderr, one log line per line, naming the hook and the vassal. */
  private static final class HookOutput extends LogOutputStream {
    private final String what;
    private final String vassal;

    HookOutput(String what, String vassal) {
      this.what = what;
      this.vassal = vassal;
    }

    @Override
    protected void processLine(String line, int level) {
      log.info("{} for {}: {}", what, vassal, line);
    }
  }
}
