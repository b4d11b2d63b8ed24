package io.psgivassal.emperor.core;

import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.EventFd;
import java.io.Closeable;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A single-threaded epoll reactor: descriptor handlers, a timer queue that sets epoll_wait's
 * timeout, and an eventfd through which other threads hand it tasks. Everything except
 * {@link #execute} must be called on the loop thread, which is whichever thread calls
 * {@link #runOnce}.
 */
final class EventLoop implements Closeable {
  private static final Logger log = LoggerFactory.getLogger(EventLoop.class);

  /** Called on the loop thread with the epoll event bits. */
  public interface Handler {
    void onEvents(int events);
  }

  /** A scheduled task; cancelling an already-run timer is harmless. */
  public static final class Timer implements Comparable<Timer> {
    private final long deadlineNanos;
    private final long seq;
    private final Runnable task;
    private boolean cancelled;

    private Timer(long deadlineNanos, long seq, Runnable task) {
      this.deadlineNanos = deadlineNanos;
      this.seq = seq;
      this.task = task;
    }

    public void cancel() {
      cancelled = true;
    }

    @Override
    public int compareTo(Timer o) {
      int c = Long.compare(deadlineNanos, o.deadlineNanos);
      return c != 0 ? c : Long.compare(seq, o.seq);
    }
  }

  private record Registration(int generation, Handler handler) {}

  private final Epoll epoll;
  private final EventFd wakeup;
  private final Map<Integer, Registration> handlers = new HashMap<>();
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final Object wakeLock = new Object();
  private int generation;
  private long timerSeq;
  private boolean closed;
  private Runnable afterTurn = () -> {};

  public EventLoop(int maxEventsPerWait) {
    this(maxEventsPerWait, EventFd::create);
  }

  /** {@code eventFds} makes the wake-up eventfd; a test makes it fail. What was made is closed on a failure. */
  EventLoop(int maxEventsPerWait, java.util.function.Supplier<EventFd> eventFds) {
    Epoll ep = Epoll.create(maxEventsPerWait);
    EventFd wake = null;
    try {
      wake = eventFds.get();
      this.epoll = ep;
      this.wakeup = wake;
      EventFd w = wake;
      register(w.fd(), Epoll.EPOLLIN, events -> w.drain());
    } catch (RuntimeException | Error e) {
      if (wake != null) {
        wake.close();
      }
      ep.close();
      throw e;
    }
  }

  /**
   * Watches {@code fd}. The epoll data carries a generation next to the fd so that an event
   * queued for a descriptor that was closed and whose number was reused within the same
   * epoll_wait batch is not delivered to the new owner.
   */
  public void register(int fd, int interest, Handler handler) {
    int gen = ++generation;
    epoll.add(fd, interest, ((long) gen << 32) | (fd & 0xFFFF_FFFFL));
    handlers.put(fd, new Registration(gen, handler));
  }

  /** Stops watching {@code fd}; call before closing it. */
  public void unregister(int fd) {
    if (handlers.remove(fd) != null) {
      epoll.delete(fd);
    }
  }

  /** Longer delays mean "never"; clamped so that a deadline cannot wrap negative and sort first. */
  static final long MAX_DELAY_NANOS = TimeUnit.DAYS.toNanos(365L * 100);

  public Timer schedule(long delay, TimeUnit unit, Runnable task) {
    long nanos = Math.max(0, Math.min(unit.toNanos(delay), MAX_DELAY_NANOS));
    Timer t = new Timer(System.nanoTime() + nanos, ++timerSeq, task);
    timers.add(t);
    return t;
  }

  /** Thread-safe: runs {@code task} on the loop thread at its next turn. */
  public void execute(Runnable task) {
    synchronized (wakeLock) {
      if (closed) {
        throw new RejectedExecutionException("event loop closed");
      }
      tasks.add(task);
      wakeup.signal();
    }
  }

  /**
   * Runs {@code r} at the end of every turn, after handlers, tasks and timers: the place to
   * publish state that many events in one turn changed, once.
   */
  public void afterEachTurn(Runnable r) {
    this.afterTurn = r;
  }

  /** Waits for at most {@code maxWaitMillis} (or the next timer), then runs what is due. */
  public void runOnce(long maxWaitMillis) {
    int n = epoll.await(timeoutMillis(maxWaitMillis));
    for (int i = 0; i < n; i++) {
      long data = epoll.data(i);
      int fd = (int) data;
      Registration r = handlers.get(fd);
      if (r != null && r.generation() == (int) (data >>> 32)) {
        int events = epoll.events(i);
        dispatch(() -> r.handler().onEvents(events));
      }
    }
    Runnable task;
    while ((task = tasks.poll()) != null) {
      dispatch(task);
    }
    runDueTimers();
    dispatch(afterTurn);
  }

  private int timeoutMillis(long maxWaitMillis) {
    if (!tasks.isEmpty()) {
      return 0;
    }
    Timer next = nextLiveTimer();
    long wait = maxWaitMillis;
    if (next != null) {
      long untilNext = TimeUnit.NANOSECONDS.toMillis(next.deadlineNanos - System.nanoTime() + 999_999);
      wait = Math.min(wait, Math.max(0, untilNext));
    }
    return (int) Math.min(Integer.MAX_VALUE, wait);
  }

  private Timer nextLiveTimer() {
    Timer t;
    while ((t = timers.peek()) != null && t.cancelled) {
      timers.poll();
    }
    return t;
  }

  private void runDueTimers() {
    long now = System.nanoTime();
    Timer t;
    while ((t = nextLiveTimer()) != null && t.deadlineNanos - now <= 0) {
      timers.poll();
      dispatch(t.task);
    }
  }

  /**
   * One failing handler must not take the supervision of every other vassal down with it, so
   * what it threw is logged and the loop goes on, Errors such as AssertionError included. A
   * {@link VirtualMachineError} (out of memory, a stack overflow) ends the loop: the JVM itself is
   * failing, and the Emperor's last resort (kill every vassal) is the safe way out.
   */
  private static void dispatch(Runnable r) {
    try {
      r.run();
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable t) {
      log.error("event handler failed", t);
    }
  }

  public int registeredCount() {
    return handlers.size() - 1;
  }

  @Override
  public void close() {
    synchronized (wakeLock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    handlers.clear();
    timers.clear();
    wakeup.close();
    epoll.close();
  }
}
