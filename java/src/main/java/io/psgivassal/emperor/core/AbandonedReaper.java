package io.psgivassal.emperor.core;

import com.google.common.util.concurrent.ThreadFactoryBuilder;
import io.psgivassal.emperor.api.ExitStatus;
import io.psgivassal.emperor.natives.PidFds;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Vassal processes a stopping Emperor gave up on: SIGKILL did not end them (stuck in the kernel,
 * state D). Each is still the JVM's child, and once it finally dies nobody would reap it (its
 * Emperor is gone, and with no Emperor left the JVM has no orphan reaper): it would stay a zombie
 * for the JVM's life. This JVM-wide daemon thread reaps each by its pid (never waitpid(-1)) once
 * a second until it is gone; a pid that is not (or no longer) our child is dropped.
 */
final class AbandonedReaper {
  private static final Logger log = LoggerFactory.getLogger(AbandonedReaper.class);
  private static final Set<Integer> PIDS = ConcurrentHashMap.newKeySet();
  private static final ScheduledExecutorService THREAD = Executors.newSingleThreadScheduledExecutor(
      new ThreadFactoryBuilder().setNameFormat("emperor-abandoned-reaper").setDaemon(true).build());

  static {
    THREAD.scheduleWithFixedDelay(AbandonedReaper::reapOnce, 1, 1, TimeUnit.SECONDS);
  }

  private AbandonedReaper() {}

  /** Watches {@code pid}, an abandoned vassal process, until it is reaped. */
  static void abandon(int pid) {
    PIDS.add(pid);
  }

  /** The pids still waited for. */
  static Set<Integer> pids() {
    return Set.copyOf(PIDS);
  }

  private static void reapOnce() {
    for (int pid : PIDS) {
      try {
        Optional<ExitStatus> st = PidFds.reapNoHang(pid);
        if (st.isPresent()) {
          PIDS.remove(pid);
          log.info("abandoned vassal process pid {} is gone at last ({})", pid, st.get());
        }
      } catch (RuntimeException e) { // NativeException included
        PIDS.remove(pid);
        log.warn("abandoned vassal process pid {}: {}", pid, e.getMessage());
      }
    }
  }
}
