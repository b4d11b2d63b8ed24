package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fork servers: adoptions wait (never dropped) while the fork server is not up or dead, a dead
 * fork server is respawned as a base vassal, --emperor-fork-server-attr picks the fork server
 * per vassal, and many vassals present at start are all adopted at once through one fork server.
 */
class ForkServerIT extends WorldFixture {
  @Test
  void adoptionsWaitForAForkServerThatIsNotUpYetOrDownAndAreNeverDropped() throws Exception {
    int p1 = Ports.free();
    world.writeApp("app1.ini", p1, "");
    emperor = world.start(world.builder());
    Thread.sleep(2000); // no base.ini: nobody listens on the fork-server socket
    assertEquals(VassalState.ADOPTING, view("app1.ini").state());
    assertEquals(0, world.events.count("app1.ini", Type.SPAWNED));

    world.writeBase();
    Http.await200(p1, WAIT);
    assertTrue(view("app1.ini").adopted());

    // the fork server goes away (its config removed); an adoption asked for meanwhile waits
    Files.delete(world.vassals.resolve("base.ini"));
    world.events.await("base.ini", Type.REMOVED, 1, WAIT);
    int p2 = Ports.free();
    world.writeApp("app2.ini", p2, "");
    Thread.sleep(2000);
    assertEquals(VassalState.ADOPTING, view("app2.ini").state(), "still waiting, not dropped");
    assertEquals(200, Http.get(p1).status(), "adopted vassals serve without their fork server");

    world.writeBase();
    Http.await200(p2, WAIT);
    assertTrue(view("app2.ini").adopted());
  }

  @Test
  void aForkServerThatDiesIsRespawnedAsABaseVassalAndAdoptsAgain() throws Exception {
    world.writeBase();
    int p1 = Ports.free();
    world.writeApp("app1.ini", p1, "");
    emperor = world.start(world.builder());
    Http.await200(p1, WAIT);
    int base = view("base.ini").pid();
    int app1 = view("app1.ini").pid();

    Signals.kill(base, Signals.SIGKILL);
    world.events.await("base.ini", Type.RESPAWNED, 1, WAIT);
    assertNotEquals(base, view("base.ini").pid());
    assertTrue(!view("base.ini").adopted(), "a base vassal is spawned, not adopted");
    assertEquals(200, Http.get(p1).status(), "adopted vassals keep serving");
    assertEquals(app1, view("app1.ini").pid());

    int p2 = Ports.free();
    world.writeApp("app2.ini", p2, "");
    Http.Response r = Http.await200(p2, WAIT);
    int app2 = view("app2.ini").pid();
    assertEquals(view("base.ini").pid(), ProcFs.stat(app2).orElseThrow().session(), "forked by the new fork server");
    assertTrue(ProcFs.children(app2).contains(r.helloPid()));
  }

  @Test
  void theForkServerAttributeChoosesTheForkServerPerVassal() throws Exception {
    Path sockA = world.dir.resolve("a.sock");
    Path sockB = world.dir.resolve("b.sock");
    world.writeBase("baseA.ini", sockA, world.hello);
    world.writeBase("baseB.ini", sockB, world.hello);
    int pa = Ports.free();
    int pb = Ports.free();
    world.writeApp("viaA.ini", pa, "");
    world.writeApp("viaB.ini", pb, "\n[emperor]\nfork-server = " + sockB + "\n");
    emperor = world.start(world.builder().forkServerSocket(sockA).forkBase("baseA.ini").forkBase("baseB.ini")
        .forkServerAttribute("fork-server"));
    Http.await200(pa, WAIT);
    Http.await200(pb, WAIT);
    // an adopted vassal stays in the session of the base vassal whose fork server forked it
    assertEquals(view("baseA.ini").pid(), ProcFs.stat(view("viaA.ini").pid()).orElseThrow().session());
    assertEquals(view("baseB.ini").pid(), ProcFs.stat(view("viaB.ini").pid()).orElseThrow().session());
    assertEquals(sockB, view("viaB.ini").forkServer().orElseThrow());
    assertEquals(Map.of("fork-server", sockB.toString()), view("viaB.ini").attributes());
  }

  @Test
  void manyVassalsPresentAtStartAreAllAdoptedAtOnceThroughOneForkServer() throws Exception {
    world.writeBase();
    Map<String, Integer> ports = new LinkedHashMap<>();
    for (int i = 0; i < 100; i++) {
      int port = Ports.free();
      ports.put("v" + i + ".ini", port);
      world.writeApp("v" + i + ".ini", port, "");
    }
    emperor = world.start(world.builder().maxConcurrentAdoptions(8).adoptionTimeout(Duration.ofSeconds(30)));
    Await.until("100 adopted vassals accepting", Duration.ofSeconds(180), () -> emperor.vassals().stream()
        .filter(v -> v.adopted() && v.accepting()).count() == 100);
    for (Map.Entry<String, Integer> e : ports.entrySet()) {
      assertEquals(200, Http.get(e.getValue()).status(), e.getKey());
    }
    assertEquals(0, world.events.all().stream().filter(e -> e.type() == Type.BLACKLISTED).count());
    assertEquals(0, world.events.all().stream().filter(e -> e.type() == Type.DIED).count());
  }

  @Test
  void aRelativeForkServerAttributeIsResolvedAgainstTheMonitoredDirectory() throws Exception {
    Path sockB = world.dir.resolve("b.sock"); // the vassals live in world.dir/vassals
    world.writeBase("baseB.ini", sockB, world.hello);
    int pb = Ports.free();
    world.writeApp("viaB.ini", pb, "\n[emperor]\nfs = ../b.sock\n");
    emperor = world.start(world.builder().forkBase("baseB.ini").forkServerAttribute("fs"));
    Http.await200(pb, WAIT);
    // an adopted vassal may answer on its held socket before the Emperor has read its pid from the fork server
    Await.until("viaB.ini running", WAIT, () -> view("viaB.ini").pid() > 0);
    assertEquals(sockB, view("viaB.ini").forkServer().orElseThrow());
    assertEquals(view("baseB.ini").pid(), ProcFs.stat(view("viaB.ini").pid()).orElseThrow().session());
  }
}
