package io.psgivassal.emperor.core;

import com.google.common.util.concurrent.MoreExecutors;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalListener;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fan-out of vassal events; each listener sees its events in order, whatever executor it uses.
 *
 * <p>Listener code never runs on the loop thread, which would stall every vassal while it runs (or
 * for ever, if it waited for the Emperor to stop). A listener added with {@code directExecutor()}
 * gets its events on the Emperor's one "emperor-events" thread, and so does one whose executor
 * turns out to run tasks in the calling thread. Whatever a listener throws is logged and the
 * events go on; see {@link #call}.
 */
final class Listeners implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Listeners.class);

  private record Entry(VassalListener listener, Executor executor) {}

  private final List<Entry> entries = new CopyOnWriteArrayList<>();
  /** One thread, started at its first task, ending once {@link #close} was called and all is delivered. */
  private final ThreadPoolExecutor events = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
      new LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "emperor-events");
        t.setDaemon(true);
        return t;
      });

  void add(VassalListener listener, Executor executor) {
    Executor target = executor == MoreExecutors.directExecutor() ? events : executor;
    entries.add(new Entry(listener, MoreExecutors.newSequentialExecutor(target)));
  }

  /** On the loop thread. */
  void fire(VassalEvent event) {
    Thread loop = Thread.currentThread();
    for (Entry e : entries) {
      Runnable call = () -> call(e.listener(), event);
      try {
        e.executor().execute(() -> {
          if (Thread.currentThread() == loop) {
            // the listener's executor runs tasks in the calling thread (as Runnable::run does)
            offLoop(call, event);
          } else {
            call.run();
          }
        });
      } catch (RuntimeException rejected) {
        log.warn("vassal listener executor rejected {}", event, rejected);
      }
    }
  }

  private void offLoop(Runnable call, VassalEvent event) {
    try {
      events.execute(call);
    } catch (RejectedExecutionException closed) {
      log.warn("vassal event {} not delivered: the Emperor has stopped", event);
    }
  }

  /**
   * A listener's failure is its own: logged, and the next event is delivered as usual, whatever it
   * threw, Errors such as AssertionError included. Only a {@link VirtualMachineError} (out of
   * memory, a stack overflow) goes on up to the executor: it says the JVM itself is failing, not the
   * listener.
   */
  private static void call(VassalListener listener, VassalEvent event) {
    try {
      listener.onEvent(event);
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable t) {
      log.warn("vassal listener {} failed on {}", listener, event, t);
    }
  }

  /** No more deliveries start on the events thread once those queued are done; never waits. */
  @Override
  public void close() {
    events.shutdown();
  }
}
