package io.psgivassal.emperor.pg;

import java.math.BigDecimal;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Optional;

/**
 * One vassal as a query returns it: uWSGI's columns {@code name, config, ts} and optionally
 * {@code uid, gid, socket}. {@code ts} is a timestamp or a number of seconds since the epoch
 * (uWSGI's default query selects {@code EXTRACT(epoch FROM ts)}); a change of it reloads the vassal.
 *
 * @param socket uWSGI's 6th column: the vassal's on-demand socket, empty when absent or blank
 */
public record VassalRow(String name, String config, Instant ts, Optional<String> socket) {

  /** Reads the current row; the result must have at least 3 columns. */
  public static VassalRow read(ResultSet rs) throws SQLException {
    int n = rs.getMetaData().getColumnCount();
    if (n < 3) {
      throw new SQLException("the query returns " + n + " column(s); it must return name, config, ts"
          + " (and optionally uid, gid, socket)");
    }
    String socket = n >= 6 ? rs.getString(6) : null;
    return new VassalRow(String.valueOf(rs.getString(1)), rs.getString(2) == null ? "" : rs.getString(2),
        instant(rs.getObject(3)), Optional.ofNullable(socket).map(String::strip).filter(s -> !s.isEmpty()));
  }

  static Instant instant(Object ts) {
    if (ts == null) {
      return Instant.EPOCH;
    }
    if (ts instanceof Timestamp t) {
      return t.toInstant();
    }
    if (ts instanceof OffsetDateTime o) {
      return o.toInstant();
    }
    try {
      BigDecimal secs = new BigDecimal(ts.toString().strip());
      long whole = secs.longValue();
      return Instant.ofEpochSecond(whole, secs.subtract(BigDecimal.valueOf(whole)).movePointRight(9).longValue());
    } catch (NumberFormatException | ArithmeticException e) {
      // any other type: its text changing is what counts
      return Instant.ofEpochMilli(ts.toString().hashCode() & 0xffffffffL);
    }
  }
}
