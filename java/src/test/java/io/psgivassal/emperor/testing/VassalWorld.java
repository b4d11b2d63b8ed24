package io.psgivassal.emperor.testing;

import static org.junit.jupiter.api.Assertions.fail;

import com.google.common.util.concurrent.MoreExecutors;
import com.google.common.util.concurrent.Service;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.PidFds;
import io.psgivassal.emperor.natives.Signals;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What an integration test against real psgi-vassal processes needs: a unique temp dir, the
 * vassal binary and sample apps, ini writers, and an Emperor that is stopped, with every
 * process and file of the test gone, whatever the test's outcome ({@link #close}).
 */
public final class VassalWorld implements AutoCloseable {
  public static final Duration WAIT = Duration.ofSeconds(60);

  public final Path dir;
  public final Path vassals;
  public final Path forkSocket;
  public final String binary;
  public final Path root;
  public final Path hello;
  public final Events events = new Events();
  private final List<Emperor> emperors = new ArrayList<>();

  private VassalWorld(Path dir, String binary, Path root) throws IOException {
    this.dir = dir;
    this.vassals = Files.createDirectory(dir.resolve("vassals"));
    this.forkSocket = dir.resolve("fork.sock");
    this.binary = binary;
    this.root = root;
    this.hello = root.resolve("integration/apps/hello.psgi");
  }

  /**
   * @throws AssertionError (not an assumption: a skipped lifecycle test is a missing test) when
   *     psgi-vassal is not built
   */
  public static VassalWorld create() throws IOException {
    String binary = System.getProperty("psgi.vassal");
    String root = System.getProperty("project.root");
    if (binary == null || root == null) {
      fail("system properties psgi.vassal and project.root are not set: run the integration tests through Maven (mvn verify)");
    }
    if (!Files.isExecutable(Path.of(binary))) {
      fail("psgi-vassal is not built at " + binary + ": build the Perl side first (cd perl && perl Makefile.PL && make;"
          + " `make test` does it)");
    }
    return new VassalWorld(Files.createTempDirectory("emperor-it-"), binary, Path.of(root));
  }

  /** A test app under java/src/test/resources/apps. */
  public Path app(String name) {
    return root.resolve("java/src/test/resources/apps").resolve(name);
  }

  /** A base vassal that preloads {@code app} and runs a fork server on {@code socket}. */
  public Path writeBase(String name, Path socket, Path app) throws IOException {
    return write(name, "[uwsgi]\nearly-psgi = " + app + "\nfork-server = " + socket + "\n");
  }

  public Path writeBase() throws IOException {
    return writeBase("base.ini", forkSocket, hello);
  }

  /** An HTTP vassal with one worker; {@code extra} lines go in its [uwsgi] section. */
  public Path writeApp(String name, int port, String extra) throws IOException {
    return write(name, "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 1\n" + extra);
  }

  /** Writes atomically (temp file + rename), so a monitor never sees half a config. */
  public Path write(String name, String text) throws IOException {
    Path tmp = dir.resolve("." + name + ".tmp");
    Files.writeString(tmp, text);
    return Files.move(tmp, vassals.resolve(name), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  /** The usual Emperor: psgi-vassal, the fork server of base.ini, the vassals directory. */
  public Emperor.Builder builder() {
    return Emperor.builder()
        .vassalDirectory(vassals)
        .binaryPath(binary)
        .forkServerSocket(forkSocket)
        .forkBase("base.ini")
        .reloadMercy(Duration.ofSeconds(10))
        .rescanInterval(Duration.ofMillis(500));
  }

  public Emperor start(Emperor.Builder b) throws Exception {
    return start(b.build());
  }

  /** Starts an Emperor built already (something else had to see it first); {@link #close} stops it. */
  public Emperor start(Emperor e) throws Exception {
    emperors.add(e);
    e.addListener(events, MoreExecutors.directExecutor());
    e.startAsync().awaitRunning(30, TimeUnit.SECONDS);
    return e;
  }

  /**
   * Stops every Emperor of the test, kills whatever vassal descendant is still around (and says
   * so: a survivor is a defect), and removes the temp dir.
   */
  @Override
  public void close() throws Exception {
    List<String> problems = new ArrayList<>();
    for (Emperor e : emperors) {
      if (e.state() != Service.State.TERMINATED && e.state() != Service.State.FAILED) {
        try {
          e.stopAsync().awaitTerminated(90, TimeUnit.SECONDS);
        } catch (Exception ex) {
          problems.add("Emperor did not stop: " + ex);
        }
      }
    }
    List<Integer> left = Procs.vassalChildren();
    if (!left.isEmpty()) {
      problems.add("processes left behind: " + left);
      for (int pid : left) {
        try {
          Signals.kill(pid, Signals.SIGKILL);
        } catch (NativeException gone) {
          // exited meanwhile
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      for (int pid : left) {
        while (PidFds.reapNoHang(pid).isEmpty() && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
      }
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
    if (Files.exists(dir)) {
      problems.add("temp dir " + dir + " not removed");
    }
    if (!problems.isEmpty()) {
      throw new AssertionError(String.join("; ", problems));
    }
  }
}
