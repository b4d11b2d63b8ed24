package io.psgivassal.emperor.api;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

/**
 * What a {@link Monitor} may do. {@link #put}, {@link #remove}, {@link #schedule}, {@link #watch} and {@link #io}
 * belong to the Emperor's loop thread (call them from {@link Monitor#start} or from tasks given to
 * {@link #execute} or {@link #afterIo}); {@link #execute} may be called from any thread. A file
 * config given to {@link #put} is read on the Emperor's I/O thread, never on the loop.
 */
public interface MonitorContext {
  /**
   * A vassal exists: started if new; if known and its spec or modification time differ, its
   * config changed (the Emperor sends it 1, reload).
   */
  void put(VassalSpec spec, Instant lastModified);

  /** The vassal's config is gone: the Emperor stops it (0, or 2 when graceful) and forgets it. */
  void remove(String name);

  /** Runs {@code task} on the loop thread; thread-safe. */
  void execute(Runnable task);

  /** Runs {@code task} on the loop thread after {@code delay}; loop thread only. */
  Cancellable schedule(Duration delay, Runnable task);

  /**
   * Runs {@code onReadable} on the loop thread whenever {@code fd} is readable, until the returned
   * handle is cancelled (before the monitor closes {@code fd}); loop thread only. Monitors watch
   * their notification descriptors here instead of running threads of their own.
   */
  Cancellable watch(int fd, Runnable onReadable);

  /**
   * Runs {@code task}, which may block on the file system (list a directory, stat or read a
   * file), on the Emperor's one I/O thread, never on the loop: a hung mount then delays only its
   * own I/O. Tasks run one at a time in the order given; the task hands what it found back with
   * {@link #afterIo}. Loop thread only. The default runs it at once, in the caller.
   */
  default void io(Runnable task) {
    task.run();
  }

  /**
   * From a task given to {@link #io}: runs {@code task} on the loop thread (where {@link #put}
   * and {@link #remove} belong), after what earlier I/O tasks handed back. The default runs it
   * at once, in the caller.
   */
  default void afterIo(Runnable task) {
    task.run();
  }

  /**
   * The vassal attributes this Emperor collects ({@link MonitorSettings#attributes()}: the keys of
   * --emperor-collect-attr and --emperor-fork-server-attr) from a config text's [emperor] section,
   * the way a directory monitor collects them from a file, for a monitor whose configs are text
   * (a database row, say) to give to {@link VassalSpec#withAttributes}. The default collects none.
   */
  default Map<String, String> attributesOf(String configText) {
    return Map.of();
  }

  /** The Emperor-wide options monitors apply (uWSGI's globals). */
  MonitorSettings settings();

  /** A scheduled task. */
  interface Cancellable {
    void cancel();
  }
}
