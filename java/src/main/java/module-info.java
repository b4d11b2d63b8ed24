/**
 * The Emperor library. Host programs see {@code io.psgivassal.emperor.api}; the engine behind it
 * is found through {@link java.util.ServiceLoader}. The PostgreSQL monitors ({@code pg}, {@code
 * fleet}) are add-ons built on that API alone, exported for hosts that want them.
 */
@SuppressWarnings("requires-automatic") // JNA: see below
module io.psgivassal.emperor {
  // Emperor is a Guava Service: a host that uses it needs Guava too
  requires transitive com.google.common;
  // JNA's jar has no module descriptor: an automatic module, named com.sun.jna
  requires com.sun.jna;
  requires org.apache.commons.exec;
  requires org.slf4j;
  // the CLI handles SIGTERM/SIGINT/SIGHUP itself (sun.misc.Signal)
  requires jdk.unsupported;
  // the pg:// monitor and the fleet: JDBC, with PostgreSQL's driver (an automatic module)
  requires java.sql;
  requires org.postgresql.jdbc;

  exports io.psgivassal.emperor.api;
  exports io.psgivassal.emperor.pg;
  exports io.psgivassal.emperor.fleet;

  // JNA proxies the package-private LibC interface and reads the fields of its Structures
  opens io.psgivassal.emperor.natives to com.sun.jna;

  uses io.psgivassal.emperor.api.EngineProvider;
  provides io.psgivassal.emperor.api.EngineProvider with io.psgivassal.emperor.core.CoreEngineProvider;
}
