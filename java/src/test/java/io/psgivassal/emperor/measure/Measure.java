package io.psgivassal.emperor.measure;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * Measurements for the closing note (reported, never asserted):
 *
 * <pre>
 * mvn -q -B -DskipTests package &amp;&amp; mvn -q -B test-compile
 * java -cp target/emperor.jar:target/test-classes io.psgivassal.emperor.measure.Measure latency perl/bin/psgi-vassal .
 * java -cp target/emperor.jar:target/test-classes io.psgivassal.emperor.measure.Measure idle 500 perl/bin/psgi-vassal .
 * </pre>
 *
 * latency: the time from a config file appearing (renamed into the watched directory) to its
 * adopted hello.psgi vassal answering HTTP 200, 20 times; idle: N adopted hello.psgi vassals
 * (processes = 1), then the JVM's threads and RSS once they have been idle for a while.
 */
public final class Measure {
  private Measure() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: Measure latency BINARY ROOT | Measure idle N BINARY ROOT");
      System.exit(2);
    }
    if (args[0].equals("latency")) {
      latency(Path.of(args[1]).toAbsolutePath(), Path.of(args[2]).toAbsolutePath());
    } else {
      idle(Integer.parseInt(args[1]), Path.of(args[2]).toAbsolutePath(), Path.of(args[3]).toAbsolutePath());
    }
    System.exit(0);
  }

  private static Emperor start(Path dir, Path binary, Path root) throws Exception {
    Path vassals = Files.createDirectory(dir.resolve("vassals"));
    Path sock = dir.resolve("fork.sock");
    Files.writeString(vassals.resolve("base.ini"), "[uwsgi]\nearly-psgi = " + root.resolve("integration/apps/hello.psgi")
        + "\nfork-server = " + sock + "\n");
    Emperor e = Emperor.builder().vassalDirectory(vassals).binaryPath(binary.toString()).forkServerSocket(sock)
        .forkBase("base.ini").reloadMercy(Duration.ofSeconds(10)).build();
    e.startAsync().awaitRunning(30, TimeUnit.SECONDS);
    await(Duration.ofSeconds(60), () -> e.vassal("base.ini").map(VassalView::loyal).orElse(false));
    return e;
  }

  private static void latency(Path binary, Path root) throws Exception {
    Path dir = Files.createTempDirectory("emperor-measure-");
    Emperor e = start(dir, binary, root);
    List<Double> ms = new ArrayList<>();
    try {
      for (int i = 0; i < 21; i++) {
        int port = Ports.free();
        Path tmp = dir.resolve("m" + i + ".tmp");
        Files.writeString(tmp, "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 1\n");
        long t0 = System.nanoTime();
        Files.move(tmp, dir.resolve("vassals/m" + i + ".ini"), StandardCopyOption.ATOMIC_MOVE);
        while (true) {
          try {
            if (Http.get(port, "/", Duration.ofSeconds(5)).status() == 200) {
              break;
            }
          } catch (IOException notYet) {
            // refused until the vassal binds
          }
          if (System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(60)) {
            throw new IllegalStateException("vassal m" + i + " did not answer within 60 s");
          }
          Thread.sleep(2);
        }
        double took = (System.nanoTime() - t0) / 1e6;
        if (i > 0) { // the first one warms the JIT up
          ms.add(took);
        }
        Files.delete(dir.resolve("vassals/m" + i + ".ini"));
        String name = "m" + i + ".ini";
        await(Duration.ofSeconds(60), () -> e.vassal(name).isEmpty());
      }
    } finally {
      e.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);
      delete(dir);
    }
    Collections.sort(ms);
    double median = (ms.get(9) + ms.get(10)) / 2;
    System.out.printf("config file appears -> adopted vassal answers HTTP 200, %d runs: median %.1f ms, min %.1f ms,"
        + " max %.1f ms%n", ms.size(), median, ms.get(0), ms.get(ms.size() - 1));
  }

  private static void idle(int n, Path binary, Path root) throws Exception {
    Path dir = Files.createTempDirectory("emperor-measure-");
    Emperor e = start(dir, binary, root);
    try {
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        Path tmp = dir.resolve("v" + i + ".tmp");
        Files.writeString(tmp, "[uwsgi]\nhttp-socket = 127.0.0.1:" + Ports.free() + "\nprocesses = 1\n");
        Files.move(tmp, dir.resolve("vassals/v" + i + ".ini"), StandardCopyOption.ATOMIC_MOVE);
      }
      await(Duration.ofSeconds(600), () -> e.vassals().stream().filter(v -> v.adopted() && v.accepting()).count() == n);
      System.out.printf("%d adopted vassals accepting %.1f s after their files were written%n", n,
          (System.nanoTime() - t0) / 1e9);
      Thread.sleep(15_000); // idle
      System.gc();
      Thread.sleep(2_000);
      String status = Files.readString(Path.of("/proc/self/status"));
      System.out.printf("JVM with %d idle adopted vassals: %s threads (%d Java threads), VmRSS %s%n", n,
          field(status, "Threads"), Thread.getAllStackTraces().size(), field(status, "VmRSS"));
      long pssKb = 0;
      int procs = 0;
      for (VassalView v : e.vassals()) {
        List<Integer> pids = new ArrayList<>(ProcFs.children(v.pid()));
        pids.add(v.pid());
        for (int pid : pids) {
          pssKb += pss(pid);
          procs++;
        }
      }
      System.out.printf("vassals: %d processes (masters, workers, the base), total PSS %.1f MiB (%.2f MiB per adopted"
          + " vassal)%n", procs, pssKb / 1024.0, pssKb / 1024.0 / (n + 1));
    } finally {
      e.stopAsync().awaitTerminated(120, TimeUnit.SECONDS);
      delete(dir);
    }
  }

  private static long pss(int pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
        if (line.startsWith("Pss:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException gone) {
      // exited meanwhile
    }
    return 0;
  }

  private static String field(String status, String name) {
    return status.lines().filter(l -> l.startsWith(name + ":")).map(l -> l.substring(name.length() + 1).strip())
        .findFirst().orElse("?");
  }

  private static void await(Duration max, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("timed out after " + max);
      }
      Thread.sleep(10);
    }
  }

  private static void delete(Path dir) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
