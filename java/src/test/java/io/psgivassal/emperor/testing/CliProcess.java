package io.psgivassal.emperor.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Emperor CLI as a process of its own, its output in a log file of the world's temp dir.
 * {@link #close} stops it (SIGTERM, then SIGKILL) if a test left it running.
 */
public final class CliProcess implements AutoCloseable {
  /** What the library module needs at run time, found among the test JVM's jars. */
  private static final List<String> MODULE_JARS = List.of("jna-", "guava-", "failureaccess-", "commons-exec-",
      "slf4j-api-", "slf4j-simple-", "postgresql-", "prometheus-metrics-");

  public final Process process;
  public final Path log;

  private CliProcess(List<String> cmd, Path dir) throws IOException {
    this.log = Files.createTempFile(dir, "emperor-cli", ".log");
    this.process = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile()).start();
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** {@code java -jar target/emperor.jar ARGS}. */
  public static CliProcess jar(Path root, Path dir, String... args) throws IOException {
    Path jar = root.resolve("target/emperor.jar");
    assertTrue(Files.isRegularFile(jar), jar + " is built by mvn package");
    List<String> cmd = new ArrayList<>(List.of(java(), "-jar", jar.toString()));
    cmd.addAll(Arrays.asList(args));
    return new CliProcess(cmd, dir);
  }

  /**
   * The library as a named module ({@code target/classes} has its module-info) with its
   * dependencies on the module path, the CLI's main class run from it.
   */
  public static CliProcess modulePath(Path root, Path dir, String... args) throws IOException {
    List<String> path = new ArrayList<>(List.of(root.resolve("target/classes").toString()));
    for (String property : List.of("java.class.path", "jdk.module.path")) {
      for (String entry : System.getProperty(property, "").split(File.pathSeparator)) {
        String name = Path.of(entry).getFileName() == null ? "" : Path.of(entry).getFileName().toString();
        if (name.endsWith(".jar") && MODULE_JARS.stream().anyMatch(name::startsWith) && !path.contains(entry)) {
          path.add(entry);
        }
      }
    }
    assertTrue(path.size() > MODULE_JARS.size(), "the library's jars are on the test class path: " + path);
    List<String> cmd = new ArrayList<>(List.of(java(), "--module-path", String.join(File.pathSeparator, path),
        "--module", "io.psgivassal.emperor/io.psgivassal.emperor.cli.Main"));
    cmd.addAll(Arrays.asList(args));
    return new CliProcess(cmd, dir);
  }

  public String logText() throws IOException {
    return Files.readString(log);
  }

  /** Waits for {@code text} in the log; fails at once, with the log, if the CLI exits first. */
  public void awaitLog(String text, Duration max) throws Exception {
    Await.until("'" + text + "' in the CLI's log", max, () -> !process.isAlive() || logContains(text));
    assertTrue(logContains(text), "'" + text + "' in the CLI's log:\n" + logText());
  }

  private boolean logContains(String text) {
    try {
      return logText().contains(text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The exit status, waiting at most {@code max}. */
  public int exitStatus(Duration max) throws InterruptedException {
    assertTrue(process.waitFor(max.toMillis(), TimeUnit.MILLISECONDS), "the CLI exits within " + max);
    return process.exitValue();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
