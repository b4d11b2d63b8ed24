package io.psgivassal.emperor.core;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.commons.exec.CommandLine;
import org.apache.commons.exec.DefaultExecutor;
import org.apache.commons.exec.ExecuteWatchdog;
import org.apache.commons.exec.LogOutputStream;
import org.apache.commons.exec.PumpStreamHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs --vassals-start-hook and --vassals-stop-hook through Apache Commons Exec, as uWSGI does:
 * the command with the vassal's name as its argument, plus UWSGI_VASSAL_CONFIG and
 * UWSGI_VASSAL_PID in its environment. Hooks run on a small pool, never on the event loop; a
 * watchdog kills one that hangs, and the outcome (exit status, failure, timeout) is logged on
 * the loop thread, where a start hook's completion also lets the vassal start.
 */
final class HookRunner implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HookRunner.class);
  private static final int MAX_THREADS = 4;

  private final Optional<String> startHook;
  private final Optional<String> stopHook;
  private final Duration timeout;
  private final Map<String, String> environment;
  private final Executor loop;
  private final ThreadPoolExecutor pool;
  private final AtomicInteger running = new AtomicInteger();

  /** How one hook run ended. */
  record Result(String what, String vassal, int exitValue, boolean timedOut, String error) {
    boolean ok() {
      return error == null && !timedOut && exitValue == 0;
    }

    @Override
    public String toString() {
      if (timedOut) {
        return what + " for " + vassal + " hung and was killed by its watchdog";
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
    Map<String, String> env = new HashMap<>(environment);
    env.put("UWSGI_VASSAL_CONFIG", config);
    // a start hook runs before the process exists: 0 says "none yet"
    env.put("UWSGI_VASSAL_PID", Integer.toString(pid));
    HookOutput out = new HookOutput(what, vassal);
    PumpStreamHandler streams = new PumpStreamHandler(out);
    // a hook's own children may keep its stdout open after the watchdog killed it: do not wait for them
    streams.setStopTimeout(Duration.ofSeconds(2));
    ExecuteWatchdog watchdog = ExecuteWatchdog.builder().setTimeout(timeout).get();
    DefaultExecutor executor = DefaultExecutor.builder().setExecuteStreamHandler(streams).get();
    executor.setWatchdog(watchdog);
    executor.setExitValues(null); // every exit status is an outcome to log, not an exception
    try {
      int rc = executor.execute(cl, env);
      return new Result(what, vassal, rc, watchdog.killedProcess(), null);
    } catch (IOException e) {
      return new Result(what, vassal, -1, watchdog.killedProcess(), e.getMessage());
    } finally {
      try {
        out.close();
      } catch (IOException ignored) {
        // a log sink
      }
    }
  }

  /**
   * Stops accepting hooks and waits up to {@code max} for the running ones (each bounded by its
   * watchdog anyway).
   */
  @Override
  public void close() {
    pool.shutdown();
    try {
      if (!pool.awaitTermination(timeout.toMillis() + 5000, TimeUnit.MILLISECONDS)) {
        log.warn("hooks still running after {} ms; abandoning them", timeout.toMillis() + 5000);
        pool.shutdownNow();
      }
    } catch (InterruptedException e) {
      pool.shutdownNow();
      Thread.currentThread().interrupt();
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
