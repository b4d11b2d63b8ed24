package io.psgivassal.emperor.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import org.junit.jupiter.api.Test;

/** How {@code pg://CONNINFO} is read: libpq's key=value form and postgresql:// URIs, as uWSGI's users write them. */
class ConnInfoTest {
  @Test
  void libpqKeyValueFormWithQuotingBecomesAJdbcUrl() {
    ConnInfo c = ConnInfo.parse("host=db1 port=6543 dbname=web user=emperor password='it\\'s secret' sslmode=require");
    assertEquals("jdbc:postgresql://db1:6543/web", c.jdbcUrl());
    assertFalse(c.toString().contains("secret"), "the password never reaches logs: " + c);
    assertEquals("jdbc:postgresql://localhost:5432/emperor", ConnInfo.parse("user=emperor").jdbcUrl());
  }

  @Test
  void postgresqlUrisAreAcceptedToo() {
    ConnInfo c = ConnInfo.parse("postgresql://emperor:p%40ss@10.0.0.5:5433/fleet?sslmode=disable");
    assertEquals("jdbc:postgresql://10.0.0.5:5433/fleet", c.jdbcUrl());
    assertTrue(c.toString().contains("password=***"), c.toString());
  }

  @Test
  void whatCannotWorkIsRefusedNamingIt() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ConnInfo.parse("host=db port=99999"))
        .getMessage().contains("port '99999'"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ConnInfo.parse("host=db password='open"))
        .getMessage().contains("unterminated"));
    String m = assertThrows(IllegalArgumentException.class, () -> ConnInfo.parse("host=db passwd=x")).getMessage();
    assertTrue(m.contains("unknown key 'passwd'"), m);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ConnInfo.parse("dbname"))
        .getMessage().contains("expected key=value"));
  }

  @Test
  void tsIsATimestampOrEpochSecondsAsUwsgiSelectsIt() {
    assertEquals(Instant.ofEpochSecond(1700000000, 250_000_000), VassalRow.instant(new java.math.BigDecimal("1700000000.25")));
    assertEquals(Instant.ofEpochSecond(1700000000), VassalRow.instant("1700000000"));
    assertEquals(Instant.ofEpochSecond(5), VassalRow.instant(java.sql.Timestamp.from(Instant.ofEpochSecond(5))));
    assertEquals(Instant.EPOCH, VassalRow.instant(null));
  }
}
