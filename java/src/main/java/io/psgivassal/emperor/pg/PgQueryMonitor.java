package io.psgivassal.emperor.pg;

import io.psgivassal.emperor.api.Monitor;
import io.psgivassal.emperor.api.MonitorContext;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * uWSGI's {@code pg://CONNINFO;QUERY} imperial monitor: every row of QUERY ({@code name, config,
 * ts}, see {@link VassalRow}) is a vassal whose config text goes over the config pipe
 * ({@code emperor://NAME}); a changed {@code ts} or config reloads it, a vanished row stops it.
 * The query runs every {@code --emperor-freq} and, with a LISTEN channel, at once on every NOTIFY
 * on it. uWSGI's optional {@code uid, gid} columns are read and ignored (vassals run as the
 * Emperor's user; uWSGI uses them only in tyrant mode); the {@code socket} column is the vassal's
 * on-demand socket.
 *
 * <p>The database going away is not the vassals going away: they keep running as they are while
 * {@link PgPoller} reconnects with backoff, and the rows as they are once it is back are applied.
 *
 * <pre>{@code
 * Emperor e = Emperor.builder()
 *     .monitor(PgQueryMonitor.of("pg://host=db dbname=web user=emperor;SELECT name, config, ts FROM vassals")
 *         .listening("vassals_changed"))
 *     .binaryPath("psgi-vassal").build();
 * }</pre>
 */
public final class PgQueryMonitor implements Monitor {
  private static final Logger log = LoggerFactory.getLogger(PgQueryMonitor.class);
  /** uWSGI's query when the argument has none. */
  public static final String DEFAULT_QUERY = "SELECT name,config,EXTRACT(epoch FROM ts) FROM vassals";

  private final ConnInfo conn;
  private final String query;
  private final Optional<String> channel;
  private final String id;
  private final VassalTable table;
  private PgPoller poller;
  private MonitorContext ctx;
  private volatile boolean stopped;

  private PgQueryMonitor(ConnInfo conn, String query, Optional<String> channel) {
    this.conn = conn;
    this.query = query;
    this.channel = channel.map(PgPoller::checkChannel);
    this.id = "pg://" + conn + ";" + query;
    this.table = new VassalTable(id);
  }

  /**
   * Takes {@code --emperor}'s argument as uWSGI writes it: {@code pg://CONNINFO} or
   * {@code pg://CONNINFO;QUERY} (everything after the first semicolon is the query).
   *
   * @throws IllegalArgumentException naming the argument and what is wrong with it
   */
  public static PgQueryMonitor of(String arg) {
    if (!arg.startsWith("pg://")) {
      throw new IllegalArgumentException(arg + ": a PostgreSQL monitor starts with pg://");
    }
    String rest = arg.substring(5);
    int semi = rest.indexOf(';');
    String query = semi < 0 ? DEFAULT_QUERY : rest.substring(semi + 1).strip();
    if (query.isEmpty()) {
      throw new IllegalArgumentException(arg + ": the query after ';' is empty");
    }
    return new PgQueryMonitor(ConnInfo.parse(semi < 0 ? rest : rest.substring(0, semi)), query, Optional.empty());
  }

  /** The same monitor, also re-running the query at once on every NOTIFY on {@code ch}. */
  public PgQueryMonitor listening(String ch) {
    return new PgQueryMonitor(conn, query, Optional.of(ch));
  }

  @Override
  public String id() {
    return id;
  }

  @Override
  public void start(MonitorContext context) {
    this.ctx = context;
    poller = new PgPoller("monitor " + id, conn, channel.stream().toList(), context.settings().rescanInterval(),
        this::poll);
    log.info("monitor {} started (every {} ms{})", id, context.settings().rescanInterval().toMillis(),
        channel.map(c -> ", and on NOTIFY " + c).orElse(""));
    poller.start();
  }

  private void poll(Connection c) throws SQLException {
    List<VassalRow> rows = new ArrayList<>();
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
      while (rs.next()) {
        rows.add(VassalRow.read(rs));
      }
    }
    ctx.execute(() -> {
      if (!stopped) {
        table.apply(rows, ctx);
      }
    });
  }

  @Override
  public void stop() {
    stopped = true;
    if (poller != null) {
      poller.stop(null, () -> { });
    }
  }

  /** The connection's state, for the stats and for Java hosts. */
  public PgPoller.Status status() {
    return PgPoller.status(poller);
  }

  @Override
  public java.util.Map<String, String> state() {
    return status().asMap();
  }
}
