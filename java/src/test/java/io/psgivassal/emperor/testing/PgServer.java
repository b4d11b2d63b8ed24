package io.psgivassal.emperor.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A private PostgreSQL server for one test: Debian's {@code initdb} and {@code pg_ctl}, run as the
 * {@code postgres} user when the tests run as root ({@code runuser}; PostgreSQL refuses root),
 * into a temporary directory, on a free port of 127.0.0.1 with trust authentication. {@link
 * #close} stops it and deletes the directory whatever happened; a JVM shutdown hook does the same
 * if the test JVM dies first. {@link #stop} and {@link #start} take it away and bring it back on
 * the same port, data kept.
 */
public final class PgServer implements AutoCloseable {
  private final Path dir;
  private final Path data;
  private final Path bin;
  private final boolean root;
  public final int port;
  private boolean running;
  private Process server;
  private final Thread hook;

  private PgServer(Path dir, Path bin, boolean root, int port) {
    this.dir = dir;
    this.data = dir.resolve("data");
    this.bin = bin;
    this.root = root;
    this.port = port;
    this.hook = new Thread(this::destroy, "pg-server-cleanup");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  /** initdb, then start. @throws AssertionError naming what is missing when PostgreSQL is not installed */
  public static PgServer start() throws Exception {
    Path bin = findBin();
    boolean root = "root".equals(System.getProperty("user.name"));
    Path dir = Files.createTempDirectory("emperor-pg-");
    PgServer pg = new PgServer(dir, bin, root, Ports.free());
    try {
      if (root) {
        pg.exec(List.of("chown", "postgres:", dir.toString()), false);
      }
      pg.exec(List.of(bin.resolve("initdb").toString(), "-D", pg.data.toString(), "-A", "trust", "-U", "postgres",
          "-E", "UTF8", "--locale=C", "--no-sync"), true);
      pg.startAgain();
      return pg;
    } catch (Exception | AssertionError e) {
      pg.close();
      throw e;
    }
  }

  private static Path findBin() throws IOException {
    Path base = Path.of("/usr/lib/postgresql");
    if (Files.isDirectory(base)) {
      try (Stream<Path> versions = Files.list(base)) {
        Path found = versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("pg_ctl")))
            .max(Comparator.comparing(b -> Integer.parseInt(b.getParent().getFileName().toString().replaceAll("\\D", "0"))))
            .orElse(null);
        if (found != null) {
          return found;
        }
      }
    }
    throw new AssertionError("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql:"
        + " install Debian's postgresql package (make deps does)");
  }

  /**
   * Starts the server again (after {@link #stop}), same port, same data. The postmaster runs as a
   * child of this JVM in its session (not daemonized by pg_ctl): a JVM that is a child subreaper,
   * as an Emperor makes it, would otherwise inherit it as a stray process of another session.
   */
  public synchronized void startAgain() throws Exception {
    List<String> cmd = new ArrayList<>();
    if (root) {
      cmd.addAll(List.of("runuser", "-u", "postgres", "--"));
    }
    cmd.addAll(List.of(bin.resolve("postgres").toString(), "-D", data.toString(), "-p", Integer.toString(port),
        "-k", dir.toString(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"));
    server = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("server.log").toFile())).start();
    running = true;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      try (Connection c = connect()) {
        return;
      } catch (SQLException notYet) {
        if (!server.isAlive() || System.nanoTime() > deadline) {
          throw new AssertionError("PostgreSQL did not start on port " + port + ": "
              + Files.readString(dir.resolve("server.log")), notYet);
        }
        Thread.sleep(50);
      }
    }
  }

  /** Stops the server (fast: open connections are cut, as when a database host goes away). */
  public synchronized void stop() throws Exception {
    halt("fast");
  }

  private void halt(String mode) throws Exception {
    if (running) {
      running = false;
      try {
        exec(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", mode, "-w", "-t", "60", "stop"), true);
      } finally {
        if (!server.waitFor(30, TimeUnit.SECONDS)) {
          server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      }
    }
  }

  /** libpq's key=value form. */
  public String conninfo() {
    return "host=127.0.0.1 port=" + port + " dbname=postgres user=postgres";
  }

  public Connection connect() throws SQLException {
    return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres");
  }

  /** Runs SQL statements on a fresh connection. */
  public void sql(String... statements) throws SQLException {
    try (Connection c = connect(); Statement s = c.createStatement()) {
      for (String q : statements) {
        s.execute(q);
      }
    }
  }

  private void exec(List<String> cmd, boolean asPostgres) throws Exception {
    List<String> full = new ArrayList<>();
    if (asPostgres && root) {
      full.addAll(List.of("runuser", "-u", "postgres", "--"));
    }
    full.addAll(cmd);
    Path out = Files.createTempFile("pg-cmd-", ".log");
    try {
      Process p = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(out.toFile())
          .directory(dir.toFile()).start();
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
        throw new AssertionError("timed out: " + full);
      }
      if (p.exitValue() != 0) {
        String log = Files.exists(dir.resolve("server.log")) ? Files.readString(dir.resolve("server.log")) : "";
        throw new AssertionError(full + " exited " + p.exitValue() + ": " + Files.readString(out, StandardCharsets.UTF_8)
            + log);
      }
    } finally {
      Files.deleteIfExists(out);
    }
  }

  /** Stops the server (immediately) and removes its directory; idempotent. */
  private synchronized void destroy() {
    try {
      halt("immediate");
    } catch (Exception | AssertionError e) {
      System.err.println("PgServer: could not stop the server in " + dir + ": " + e);
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      System.err.println("PgServer: could not remove " + dir + ": " + e);
    }
  }

  @Override
  public void close() {
    destroy();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // the hook runs destroy() itself
    }
    if (Files.exists(dir)) {
      throw new AssertionError("PgServer: " + dir + " not removed");
    }
  }
}
