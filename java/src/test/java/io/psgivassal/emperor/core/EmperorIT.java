package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.psgivassal.emperor.natives.ProcFs;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The real thing: the Perl fork server as base vassal, three vassals adopted through it, HTTP
 * served by each, and nothing left behind after stop().
 */
class EmperorIT {
  private static final Pattern HELLO = Pattern.compile("Hello from pid (\\d+)\\s*");

  private Path tmp;
  private Emperor emperor;

  @BeforeEach
  void createDir() throws IOException {
    tmp = Files.createTempDirectory("emperor-it-");
  }

  @AfterEach
  void cleanUp() throws Exception {
    try {
      if (emperor != null && emperor.state() != com.google.common.util.concurrent.Service.State.TERMINATED
          && emperor.state() != com.google.common.util.concurrent.Service.State.FAILED) {
        emperor.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);
      }
    } finally {
      try (Stream<Path> walk = Files.walk(tmp)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
      assertTrue(Files.notExists(tmp), "temp dir removed");
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void adoptsThreeVassalsThroughThePerlForkServerAndStopsEverything() throws Exception {
    String binary = System.getProperty("psgi.vassal");
    String root = System.getProperty("project.root");
    assumeTrue(binary != null && Files.isExecutable(Path.of(binary)), "psgi-vassal not built: " + binary);
    Path hello = Path.of(root, "integration/apps/hello.psgi");
    assertTrue(Files.isRegularFile(hello), hello + " missing");

    Path sock = tmp.resolve("fork.sock");
    Files.writeString(tmp.resolve("base.ini"), "[uwsgi]\nearly-psgi = " + hello + "\nfork-server = " + sock + "\n");
    Map<String, Integer> ports = new LinkedHashMap<>();
    for (int i = 1; i <= 3; i++) {
      int port = freePort();
      ports.put("app" + i + ".ini", port);
      Files.writeString(tmp.resolve("app" + i + ".ini"),
          "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 2\nmaster = true\n");
    }

    emperor = Emperor.builder()
        .vassalDirectory(tmp)
        .binaryPath(binary)
        .forkBase("base.ini")
        .forkServerSocket(sock)
        .reloadMercy(Duration.ofSeconds(5))
        .build();
    emperor.startAsync().awaitRunning(30, TimeUnit.SECONDS);

    EmperorTest.await("three adopted vassals accepting", Duration.ofSeconds(30),
        () -> emperor.vassals().stream().filter(VassalView::adopted).filter(VassalView::accepting).count() == 3);

    long jvm = ProcessHandle.current().pid();
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    Set<Integer> vassalPids = new HashSet<>();
    List<Integer> everyPid = new ArrayList<>();
    for (Map.Entry<String, Integer> e : ports.entrySet()) {
      VassalView v = emperor.vassal(e.getKey()).orElseThrow();
      assertTrue(v.adopted());
      assertEquals(URI.create("http://127.0.0.1:" + e.getValue() + "/"), v.httpUrl().orElseThrow());
      assertEquals(jvm, ProcFs.stat(v.pid()).orElseThrow().ppid(), v.name() + " re-parented to the JVM");
      vassalPids.add(v.pid());

      HttpResponse<String> r = http.send(HttpRequest.newBuilder(v.httpUrl().get()).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), v.name());
      Matcher m = HELLO.matcher(r.body());
      assertTrue(m.matches(), r.body());
      int worker = Integer.parseInt(m.group(1));
      Set<Integer> workers = ProcFs.children(v.pid());
      assertTrue(workers.contains(worker), "served by a worker of " + v.name() + ": " + worker + " in " + workers);
      everyPid.add(v.pid());
      everyPid.addAll(workers);
    }
    assertEquals(3, vassalPids.size(), "three different vassal processes");
    VassalView base = emperor.vassal("base.ini").orElseThrow();
    assertTrue(!base.adopted() && base.pid() > 0);
    everyPid.add(base.pid());
    everyPid.addAll(ProcFs.children(base.pid()));

    emperor.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);

    List<Integer> survivors = everyPid.stream().filter(p -> ProcFs.stat(p).isPresent()).toList();
    assertEquals(List.of(), survivors, "no vassal or worker process outlives the Emperor");
    assertTrue(emperor.vassals().stream().allMatch(v -> v.state() == VassalState.DEAD));
  }
}
