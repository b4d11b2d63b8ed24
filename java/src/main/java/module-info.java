/**
 * The Emperor library. Host programs see {@code io.psgivassal.emperor.api}; the engine behind it
 * is found through {@link java.util.ServiceLoader}. The add-ons, built on that API alone, are
 * exported for hosts that want them: the PostgreSQL monitors ({@code pg}, {@code fleet}) and the
 * web dashboard ({@code web}).
 */
@SuppressWarnings("requires-automatic") // JNA, Prometheus: see below
module io.psgivassal.emperor {
  // Emperor is a Guava Service: a host that uses it needs Guava too
  requires transitive com.google.common;
  // JNA's jar has no module descriptor: an automatic module, named com.sun.jna
  requires com.sun.jna;
  requires org.apache.commons.exec;
  requires org.slf4j;
  // the CLI handles SIGTERM/SIGINT/SIGHUP itself (sun.misc.Signal)
  requires jdk.unsupported;
  // The add-ons' libraries are optional (requires static, <optional> in the pom): a host that uses
  // only the API needs none of them; one that uses an add-on puts its jars on the path (and, on the
  // module path, --add-modules them). The CLI jar has them all.
  // the pg:// monitor and the fleet: JDBC, with PostgreSQL's driver (an automatic module)
  requires java.sql;
  requires static org.postgresql.jdbc;
  // the web dashboard (package web): the JDK's HTTP server, and the Prometheus client for /metrics
  // (automatic modules too; the text format's jar names itself io.prometheus.writer.text)
  requires jdk.httpserver;
  requires static io.prometheus.metrics.core;
  requires static io.prometheus.metrics.model;
  requires static io.prometheus.metrics.config;
  requires static io.prometheus.writer.text;

  exports io.psgivassal.emperor.api;
  exports io.psgivassal.emperor.pg;
  exports io.psgivassal.emperor.fleet;
  // WebDashboard.start(emperor, ...): a host may serve the dashboard as the CLI does
  exports io.psgivassal.emperor.web;

  // JNA proxies the package-private LibC interface and reads the fields of its Structures
  opens io.psgivassal.emperor.natives to com.sun.jna;

  uses io.psgivassal.emperor.api.EngineProvider;
  provides io.psgivassal.emperor.api.EngineProvider with io.psgivassal.emperor.core.CoreEngineProvider;
}
