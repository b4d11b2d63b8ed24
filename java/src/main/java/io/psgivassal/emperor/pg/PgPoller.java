package io.psgivassal.emperor.pg;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one thread that talks to PostgreSQL for a monitor, so JDBC never blocks the Emperor's loop:
 * it connects, LISTENs on its channels, runs a round of work every {@code interval} or at once
 * when a NOTIFY arrives (or {@link #wake} is called), and on a lost connection reconnects with
 * backoff, logging the outage once and the recovery once. What a round finds goes to the loop
 * through the monitor's context, never from here.
 */
public final class PgPoller {
  private static final Logger log = LoggerFactory.getLogger(PgPoller.class);
  private static final Duration FIRST_RETRY = Duration.ofMillis(250);
  private static final Duration MAX_RETRY = Duration.ofSeconds(10);
  /** How long one wait for notifications may block, so a stop is seen this fast. */
  private static final int NOTIFY_SLICE_MS = 100;
  /** Rounds at most this often: a burst of NOTIFYs or wakes costs one round, not one each. */
  private static final Duration MIN_GAP = Duration.ofMillis(30);

  /** The connection as the stats show it. */
  public enum State { CONNECTING, CONNECTED, DOWN, STOPPED }

  /** One round, on the poller thread. */
  @FunctionalInterface
  public interface Work {
    void run(Connection c) throws SQLException;
  }

  /** A snapshot for the stats and for tests. */
  public record Status(State state, Optional<String> lastError, Optional<Instant> lastRound, long rounds,
      long reconnects) {
    /** What the stats JSON shows ({@code "monitors"}). */
    public java.util.Map<String, String> asMap() {
      java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
      m.put("state", state.name().toLowerCase(java.util.Locale.ROOT));
      m.put("rounds", Long.toString(rounds));
      m.put("reconnects", Long.toString(reconnects));
      lastRound.ifPresent(t -> m.put("last_round", Long.toString(t.getEpochSecond())));
      lastError.ifPresent(e -> m.put("last_error", e));
      return m;
    }
  }

  /** The status of {@code p}, which is null before its monitor started. */
  public static Status status(PgPoller p) {
    return p == null ? new Status(State.CONNECTING, Optional.empty(), Optional.empty(), 0, 0) : p.status();
  }

  private final String name;
  private final ConnInfo info;
  private final List<String> channels;
  private final Duration interval;
  private final Work work;
  private final Object lock = new Object();
  private volatile State state = State.CONNECTING;
  private volatile String lastError;
  private volatile Instant lastRound;
  private volatile long rounds;
  private volatile long reconnects;
  private boolean woken;
  private volatile boolean stopping;
  private Runnable last = () -> { };
  private Work lastWork;
  private Thread thread;

  public PgPoller(String name, ConnInfo info, List<String> channels, Duration interval, Work work) {
    for (String ch : channels) {
      checkChannel(ch);
    }
    this.name = name;
    this.info = info;
    this.channels = List.copyOf(channels);
    this.interval = interval;
    this.work = work;
  }

  /** A LISTEN channel is an SQL identifier: refused early, with its name, when it is not a plain one. */
  public static String checkChannel(String ch) {
    if (!ch.matches("[A-Za-z_][A-Za-z0-9_$]{0,62}")) {
      throw new IllegalArgumentException("channel '" + ch + "' must be a plain SQL identifier (letters, digits, _)");
    }
    return ch;
  }

  public void start() {
    thread = new Thread(this::loop, "emperor-pg " + name);
    thread.setDaemon(true);
    thread.start();
  }

  /** Runs a round as soon as possible; any thread. */
  public void wake() {
    synchronized (lock) {
      woken = true;
      lock.notifyAll();
    }
  }

  /**
   * Ends the thread after the round under way; it then runs {@code finalWork} once on the
   * connection (if there is one), then {@code after}. Any thread.
   */
  public void stop(Work finalWork, Runnable after) {
    synchronized (lock) {
      lastWork = finalWork;
      last = after;
      stopping = true;
      lock.notifyAll();
    }
  }

  /** Waits for the thread to end. */
  public boolean await(Duration max) throws InterruptedException {
    Thread t = thread;
    if (t != null) {
      t.join(Math.max(1, max.toMillis()));
      return !t.isAlive();
    }
    return true;
  }

  public Status status() {
    return new Status(state, Optional.ofNullable(lastError), Optional.ofNullable(lastRound), rounds, reconnects);
  }

  private void loop() {
    Connection c = null;
    Duration retry = FIRST_RETRY;
    boolean wasDown = false;
    try {
      while (!stopping) {
        if (c == null) {
          try {
            c = info.connect();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
              for (String ch : channels) {
                s.execute("LISTEN " + ch);
              }
            }
            state = State.CONNECTED;
            if (wasDown) {
              reconnects++;
              log.info("{}: connected to PostgreSQL again", name);
            } else {
              log.info("{}: connected to PostgreSQL{}", name, channels.isEmpty() ? "" : ", listening on " + channels);
            }
            wasDown = false;
            retry = FIRST_RETRY;
          } catch (SQLException e) {
            c = closeQuietly(c);
            if (!wasDown) {
              log.warn("{}: PostgreSQL unreachable: {}; vassals keep running, retrying with backoff up to {} s",
                  name, e.getMessage(), MAX_RETRY.toSeconds());
            }
            wasDown = true;
            state = State.DOWN;
            lastError = e.getMessage();
            pause(retry);
            retry = retry.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : retry.multipliedBy(2);
            continue;
          }
        }
        try {
          work.run(c);
          rounds++;
          lastRound = Instant.now();
          lastError = null;
          waitForNews(c);
        } catch (SQLException e) {
          lastError = e.getMessage();
          if (isValid(c)) {
            // the query is wrong, not the server gone: the same vassals stay, try again next round
            log.warn("{}: round failed: {}", name, e.getMessage());
            pause(interval);
          } else {
            log.warn("{}: lost PostgreSQL: {}; vassals keep running, reconnecting", name, e.getMessage());
            c = closeQuietly(c);
            wasDown = true;
            state = State.DOWN;
          }
        } catch (RuntimeException e) {
          log.error("{}: round failed", name, e);
          lastError = String.valueOf(e.getMessage());
          pause(interval);
        }
      }
      Work fin;
      synchronized (lock) {
        fin = lastWork;
      }
      if (fin != null) {
        try {
          if (c == null || !isValid(c)) {
            c = closeQuietly(c);
            c = info.connect();
          }
          fin.run(c);
        } catch (SQLException | RuntimeException e) {
          log.warn("{}: final round failed: {}", name, e.getMessage());
        }
      }
    } finally {
      closeQuietly(c);
      state = State.STOPPED;
      Runnable after;
      synchronized (lock) {
        after = last;
      }
      after.run();
    }
  }

  /** Until the interval is up, a NOTIFY arrives, {@link #wake} is called or the poller stops. */
  private void waitForNews(Connection c) throws SQLException {
    long deadline = System.nanoTime() + interval.toNanos();
    sleepQuietly(MIN_GAP);
    PGConnection pg = c.unwrap(PGConnection.class);
    while (!stopping) {
      synchronized (lock) {
        if (woken) {
          woken = false;
          return;
        }
      }
      long left = (deadline - System.nanoTime()) / 1_000_000;
      if (left <= 0) {
        return;
      }
      if (channels.isEmpty()) {
        pause(Duration.ofMillis(Math.min(left, NOTIFY_SLICE_MS)));
      } else {
        PGNotification[] got = pg.getNotifications((int) Math.min(left, NOTIFY_SLICE_MS));
        if (got != null && got.length > 0) {
          return;
        }
      }
    }
  }

  private void sleepQuietly(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void pause(Duration d) {
    long until = System.nanoTime() + d.toNanos();
    synchronized (lock) {
      while (!stopping && !woken) {
        long left = (until - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
          return;
        }
        try {
          lock.wait(left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      woken = false;
    }
  }

  private static boolean isValid(Connection c) {
    try {
      return c != null && c.isValid(2);
    } catch (SQLException e) {
      return false;
    }
  }

  private static Connection closeQuietly(Connection c) {
    if (c != null) {
      try {
        c.close();
      } catch (SQLException e) {
        // already broken
      }
    }
    return null;
  }
}
