package io.psgivassal.emperor.fleet;

import com.google.common.util.concurrent.Service;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.api.MonitorContext;
import io.psgivassal.emperor.pg.ConnInfo;
import io.psgivassal.emperor.pg.PgPoller;
import io.psgivassal.emperor.pg.VassalRow;
import io.psgivassal.emperor.pg.VassalTable;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Emperor of a fleet sharing a PostgreSQL database ({@link FleetSchema}). Every round (a fifth
 * of the lease, or at once on a NOTIFY from the tables' trigger) it renews its lease, claims
 * vassals that have no living Emperor with {@code SELECT … FOR UPDATE SKIP LOCKED}, so two
 * Emperors never claim the same row, and runs the vassals assigned to it (their config text goes
 * over the config pipe, a changed config or ts reloads them). It claims up to its fair share: all
 * vassals times its capacity over the capacity of the living, undrained Emperors (rounded up),
 * never above its capacity; vassals already running stay where they are.
 *
 * <p>Never run twice: an Emperor that could not renew its lease for a lease's time stops its
 * vassals (others may claim them from then on), and starts again what is still its own once the
 * database answers. A draining Emperor (see {@code fleet drain}) stops its vassals and gives each
 * back once it has stopped; so does a clean stop, where the rows are given back after the
 * Emperor has stopped its vassals (call {@link #awaitReleased}). With {@link #observe} it also
 * writes each vassal's state, pid and socket to the table, for {@code fleet list} and routers.
 */
public final class FleetMonitor implements Monitor {
  private static final Logger log = LoggerFactory.getLogger(FleetMonitor.class);
  /** How often, at most, the loop checks whether the lease is still fresh. */
  private static final Duration FENCE_CHECK = Duration.ofMillis(250);
  private final ConnInfo conn;
  private final String name;
  private final int capacity;
  private final Duration lease;
  private final Duration round;
  private final String id;
  private final VassalTable table;
  private final CountDownLatch released = new CountDownLatch(1);
  private final Map<String, String> reported = new HashMap<>();
  private volatile Emperor emperor;
  private PgPoller poller;
  private MonitorContext ctx;
  private MonitorContext.Cancellable fence;
  private volatile boolean stopped;
  private boolean registered;
  /** System.nanoTime() before the last round that renewed the lease; 0 before the first. */
  private volatile long leaseRenewedAt;

  /**
   * @param fleet {@code pg://CONNINFO}, a libpq conninfo or a {@code postgresql://} URI
   * @throws IllegalArgumentException naming what is wrong
   */
  public FleetMonitor(String fleet, String name, int capacity, Duration lease) {
    this.conn = ConnInfo.parse(fleet.startsWith("pg://") ? fleet.substring(5) : fleet);
    if (name.isBlank() || name.length() > 200) {
      throw new IllegalArgumentException("Emperor name '" + name + "' must be 1 to 200 characters");
    }
    if (capacity < 0) {
      throw new IllegalArgumentException("capacity " + capacity + " must not be negative");
    }
    if (lease.toMillis() < 500) {
      throw new IllegalArgumentException("fleet lease " + lease.toMillis() + " ms is too short (at least 500 ms)");
    }
    this.name = name;
    this.capacity = capacity;
    this.lease = lease;
    // renewals well within the lease, and at least every second so that states and drains move
    // along even with a long lease (one small transaction per Emperor per second)
    Duration fifth = lease.dividedBy(5);
    this.round = fifth.compareTo(Duration.ofSeconds(1)) > 0 ? Duration.ofSeconds(1) : fifth;
    this.id = "fleet pg://" + conn + " as " + name;
    this.table = new VassalTable(id);
  }

  /** The host name, as {@code --emperor-name} defaults to it. */
  public static String defaultName() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      return Optional.ofNullable(System.getenv("HOSTNAME")).orElse("emperor");
    }
  }

  /**
   * Lets the monitor see the vassals' states: reported to the table, and used to give rows back
   * only once stopped. Every vassal event starts a round soon, so the table follows at once.
   */
  public FleetMonitor observe(Emperor e) {
    this.emperor = Objects.requireNonNull(e);
    e.addListener(event -> {
      PgPoller p = poller;
      if (p != null) {
        p.wake();
      }
    }, com.google.common.util.concurrent.MoreExecutors.directExecutor());
    return this;
  }

  public String name() {
    return name;
  }

  @Override
  public String id() {
    return id;
  }

  @Override
  public void start(MonitorContext context) {
    this.ctx = context;
    poller = new PgPoller(id, conn, List.of(FleetSchema.CHANNEL), round, this::round);
    log.info("{}: capacity {}, lease {} ms", id, capacity, lease.toMillis());
    poller.start();
    scheduleFence();
  }

  /** On the poller thread: one transaction. */
  private void round(Connection c) throws SQLException {
    long started = System.nanoTime();
    if (!registered) {
      FleetSchema.ensure(c);
    }
    c.setAutoCommit(false);
    try {
      boolean draining = renew(c);
      if (!draining) {
        claim(c);
      }
      List<VassalRow> mine = owned(c);
      List<VassalRow> run = draining ? List.of() : mine;
      if (draining) {
        giveBack(c, mine.stream().map(VassalRow::name).filter(n -> !runsHere(n)).toList());
      }
      report(c, run);
      c.commit();
      registered = true;
      leaseRenewedAt = started;
      ctx.execute(() -> {
        if (!stopped) {
          table.apply(run, ctx);
        }
      });
    } catch (SQLException | RuntimeException e) {
      try {
        c.rollback();
      } catch (SQLException ignored) {
        // the connection is gone; the poller reconnects
      }
      throw e;
    } finally {
      try {
        c.setAutoCommit(true);
      } catch (SQLException ignored) {
        // the connection is gone
      }
    }
  }

  /** @return whether this Emperor is draining */
  private boolean renew(Connection c) throws SQLException {
    // the first registration of a run clears a drain: the Emperor is back from maintenance
    try (PreparedStatement p = c.prepareStatement("""
        INSERT INTO emperor_fleet_emperors (name, capacity, lease_until, pid, host)
          VALUES (?, ?, now() + ? * interval '1 millisecond', ?, ?)
        ON CONFLICT (name) DO UPDATE SET capacity = EXCLUDED.capacity, lease_until = EXCLUDED.lease_until,
          pid = EXCLUDED.pid, host = EXCLUDED.host,
          draining = CASE WHEN ? THEN emperor_fleet_emperors.draining ELSE false END,
          started = CASE WHEN ? THEN emperor_fleet_emperors.started ELSE now() END
        RETURNING draining""")) {
      p.setString(1, name);
      p.setInt(2, capacity);
      p.setLong(3, lease.toMillis());
      p.setInt(4, (int) ProcessHandle.current().pid());
      p.setString(5, defaultName());
      p.setBoolean(6, registered);
      p.setBoolean(7, registered);
      try (ResultSet rs = p.executeQuery()) {
        rs.next();
        return rs.getBoolean(1);
      }
    }
  }

  private void claim(Connection c) throws SQLException {
    try (PreparedStatement p = c.prepareStatement("""
        UPDATE emperor_fleet_vassals SET emperor = ?, claimed_at = now(), state = 'claimed', pid = NULL
        WHERE name IN (
          SELECT v.name FROM emperor_fleet_vassals v
          WHERE v.emperor IS NULL OR NOT EXISTS (
            SELECT 1 FROM emperor_fleet_emperors e WHERE e.name = v.emperor AND e.lease_until > now())
          ORDER BY v.name
          LIMIT greatest(0, least(?, ceil((SELECT count(*) FROM emperor_fleet_vassals) * ?::numeric
              / coalesce(nullif((SELECT sum(capacity) FROM emperor_fleet_emperors
                  WHERE lease_until > now() AND NOT draining), 0), 1)))::bigint
            - (SELECT count(*) FROM emperor_fleet_vassals WHERE emperor = ?))
          FOR UPDATE OF v SKIP LOCKED)
        RETURNING name""")) {
      p.setString(1, name);
      p.setInt(2, capacity);
      p.setInt(3, capacity);
      p.setString(4, name);
      try (ResultSet rs = p.executeQuery()) {
        List<String> got = new ArrayList<>();
        while (rs.next()) {
          got.add(rs.getString(1));
        }
        if (!got.isEmpty()) {
          log.info("{}: claimed {} vassal(s): {}", id, got.size(), got);
        }
      }
    }
  }

  private List<VassalRow> owned(Connection c) throws SQLException {
    List<VassalRow> rows = new ArrayList<>();
    try (PreparedStatement p = c.prepareStatement(
        "SELECT name, config, ts FROM emperor_fleet_vassals WHERE emperor = ? ORDER BY name")) {
      p.setString(1, name);
      try (ResultSet rs = p.executeQuery()) {
        while (rs.next()) {
          rows.add(VassalRow.read(rs));
        }
      }
    }
    return rows;
  }

  private void giveBack(Connection c, List<String> names) throws SQLException {
    if (names.isEmpty()) {
      return;
    }
    try (PreparedStatement p = c.prepareStatement("""
        UPDATE emperor_fleet_vassals SET emperor = NULL, claimed_at = NULL, state = NULL, pid = NULL, sockets = NULL
        WHERE emperor = ? AND name = ANY (?)""")) {
      p.setString(1, name);
      p.setArray(2, c.createArrayOf("text", names.toArray()));
      p.executeUpdate();
    }
    log.info("{}: gave back {} vassal(s): {}", id, names.size(), names);
  }

  /** Whether a process of vassal {@code n} still runs here (false when nothing is observed). */
  private boolean runsHere(String n) {
    Emperor e = emperor;
    return e != null && e.vassal(n).map(v -> v.pid() != 0).orElse(false);
  }

  /** Writes the states that changed since the last round. */
  private void report(Connection c, List<VassalRow> run) throws SQLException {
    Emperor e = emperor;
    if (e == null) {
      return;
    }
    reported.keySet().retainAll(run.stream().map(VassalRow::name).toList());
    try (PreparedStatement p = c.prepareStatement("""
        UPDATE emperor_fleet_vassals SET state = ?, pid = ?, sockets = ?, reported_at = now()
        WHERE name = ? AND emperor = ?""")) {
      int n = 0;
      for (VassalRow r : run) {
        Optional<VassalView> v = e.vassal(r.name());
        String state = v.map(x -> x.state().name().toLowerCase(java.util.Locale.ROOT)).orElse("claimed");
        int pid = v.map(VassalView::pid).orElse(0);
        String sockets = v.map(FleetMonitor::sockets).orElse(null);
        String key = state + "/" + pid + "/" + sockets;
        if (key.equals(reported.get(r.name()))) {
          continue;
        }
        reported.put(r.name(), key);
        p.setString(1, state);
        p.setInt(2, pid);
        p.setString(3, sockets);
        p.setString(4, r.name());
        p.setString(5, name);
        p.addBatch();
        n++;
      }
      if (n > 0) {
        p.executeBatch();
      }
    }
  }

  private static String sockets(VassalView v) {
    List<String> s = new ArrayList<>();
    v.httpUrl().ifPresent(u -> s.add(u.toString()));
    v.onDemand().ifPresent(s::add);
    return s.isEmpty() ? null : String.join(" ", s);
  }

  /**
   * On the loop: a lease not renewed in time means another Emperor may claim our vassals when it
   * ends, so they stop here first: at 3/5 of the lease after the last renewal began (two rounds
   * missed at the default round), checked every {@link #FENCE_CHECK} at most, which leaves the
   * vassals well over a round to exit before anyone may claim them.
   */
  private void scheduleFence() {
    Duration check = round.dividedBy(4).compareTo(FENCE_CHECK) > 0 ? FENCE_CHECK : round.dividedBy(4);
    fence = ctx.schedule(check, () -> {
      if (stopped) {
        return;
      }
      long renewed = leaseRenewedAt;
      if (renewed != 0 && System.nanoTime() - renewed > lease.multipliedBy(3).dividedBy(5).toNanos()
          && !table.names().isEmpty()) {
        log.warn("{}: lease not renewed for {} ms (database unreachable): stopping {} vassal(s) so that no other"
            + " Emperor runs them twice; what is still ours starts again once the database answers", id,
            (System.nanoTime() - renewed) / 1_000_000, table.names().size());
        table.clear(ctx);
      }
      scheduleFence();
    });
  }

  @Override
  public void stop() {
    stopped = true;
    if (fence != null) {
      fence.cancel();
    }
    if (poller == null) {
      released.countDown();
      return;
    }
    poller.stop(this::release, released::countDown);
  }

  /** On the poller thread, once stopping: waits for the vassals to stop here, then gives back every row. */
  private void release(Connection c) throws SQLException {
    Emperor e = emperor;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (e != null && System.nanoTime() < deadline && e.state() != Service.State.TERMINATED
        && e.state() != Service.State.FAILED && table.names().stream().anyMatch(this::runsHere)) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    c.setAutoCommit(false);
    try (PreparedStatement v = c.prepareStatement("""
          UPDATE emperor_fleet_vassals SET emperor = NULL, claimed_at = NULL, state = NULL, pid = NULL, sockets = NULL
          WHERE emperor = ?""");
        PreparedStatement m = c.prepareStatement(
            "UPDATE emperor_fleet_emperors SET lease_until = now() - interval '1 second', pid = NULL WHERE name = ?")) {
      v.setString(1, name);
      int n = v.executeUpdate();
      m.setString(1, name);
      m.executeUpdate();
      c.commit();
      log.info("{}: stopped; gave back {} vassal(s)", id, n);
    } catch (SQLException ex) {
      c.rollback();
      throw ex;
    }
  }

  /**
   * After the Emperor stopped: waits until the rows are given back (or the database could not be
   * reached), so other Emperors take the vassals at once instead of after the lease.
   */
  public boolean awaitReleased(Duration max) throws InterruptedException {
    return released.await(max.toMillis(), TimeUnit.MILLISECONDS);
  }

  public PgPoller.Status status() {
    return PgPoller.status(poller);
  }

  @Override
  public java.util.Map<String, String> state() {
    java.util.Map<String, String> m = new java.util.LinkedHashMap<>(status().asMap());
    m.put("fleet_name", name);
    m.put("capacity", Integer.toString(capacity));
    m.put("lease_ms", Long.toString(lease.toMillis()));
    return m;
  }
}
