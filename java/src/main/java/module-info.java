/**
 * The Emperor library. Host programs see {@code io.psgivassal.emperor.api} only; the engine behind
 * it is found through {@link java.util.ServiceLoader}.
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

  exports io.psgivassal.emperor.api;

  // JNA proxies the package-private LibC interface and reads the fields of its Structures
  opens io.psgivassal.emperor.natives to com.sun.jna;

  uses io.psgivassal.emperor.api.EngineProvider;
  provides io.psgivassal.emperor.api.EngineProvider with io.psgivassal.emperor.core.CoreEngineProvider;
}
