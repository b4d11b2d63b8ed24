package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.Procs;
import io.psgivassal.emperor.testing.VassalWorld;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The spine end to end: the Perl fork server as base vassal, three vassals adopted through it,
 * HTTP served by each, and nothing left behind after stop().
 */
class EmperorIT {
  private VassalWorld world;

  @BeforeEach
  void setUp() throws Exception {
    world = VassalWorld.create();
  }

  @AfterEach
  void tearDown() throws Exception {
    world.close();
  }

  @Test
  void adoptsThreeVassalsThroughThePerlForkServerAndStopsEverything() throws Exception {
    world.writeBase();
    Map<String, Integer> ports = new LinkedHashMap<>();
    for (int i = 1; i <= 3; i++) {
      int port = Ports.free();
      ports.put("app" + i + ".ini", port);
      world.write("app" + i + ".ini", "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 2\nmaster = true\n");
    }
    Emperor emperor = world.start(world.builder().reloadMercy(Duration.ofSeconds(5)));

    Await.until("three adopted vassals accepting", VassalWorld.WAIT,
        () -> emperor.vassals().stream().filter(VassalView::adopted).filter(VassalView::accepting).count() == 3);

    long jvm = ProcessHandle.current().pid();
    Set<Integer> vassalPids = new HashSet<>();
    List<Integer> everyPid = new ArrayList<>();
    for (Map.Entry<String, Integer> e : ports.entrySet()) {
      VassalView v = emperor.vassal(e.getKey()).orElseThrow();
      assertTrue(v.adopted());
      assertEquals(URI.create("http://127.0.0.1:" + e.getValue() + "/"), v.httpUrl().orElseThrow());
      assertEquals(jvm, ProcFs.stat(v.pid()).orElseThrow().ppid(), v.name() + " re-parented to the JVM");
      vassalPids.add(v.pid());

      Http.Response r = Http.get(e.getValue());
      assertEquals(200, r.status(), v.name());
      int worker = r.helloPid();
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
    assertEquals(List.of(), Procs.zombieChildren(), "no zombie of ours");
    assertFalse(Files.exists(world.forkSocket), "fork-server socket removed");
  }
}
