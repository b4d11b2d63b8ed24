package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.natives.ProcFs;
import io.psgivassal.emperor.natives.Signals;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Load;
import io.psgivassal.emperor.testing.Ports;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Deploy = touch the base: a new base generation loads the new code while the old one keeps
 * adopting; then every adopted vassal moves to it without losing a request. A broken deploy
 * changes nothing. Clients open a new connection per request throughout.
 */
class DeployIT extends WorldFixture {
  private final Map<String, Integer> apps = new LinkedHashMap<>();
  private final List<Load> loads = new ArrayList<>();
  private int baseWrites;

  /** The shared code the base preloads: Deployed::version returns {@code version}. */
  private void writeCode(String version, String extra) throws IOException {
    Files.createDirectories(world.dir.resolve("lib"));
    Files.writeString(world.dir.resolve("lib/Deployed.pm.tmp"),
        "package Deployed;\n" + extra + "\nsub version { '" + version + "' }\n1;\n");
    Files.move(world.dir.resolve("lib/Deployed.pm.tmp"), world.dir.resolve("lib/Deployed.pm"),
        java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  /** (Re)writes base.ini: its early-psgi requires lib/Deployed.pm. Each write is a deploy. */
  private void writeBase() throws IOException {
    Path psgi = world.dir.resolve("deploy.psgi");
    if (!Files.exists(psgi)) {
      Files.writeString(psgi, "require '" + world.dir.resolve("lib/Deployed.pm") + "';\n"
          + "sub { [200, ['Content-Type' => 'text/plain'], [\"base \" . Deployed::version() . \"\\n\"]] };\n");
    }
    world.write("base.ini", "[uwsgi]\nearly-psgi = " + psgi + "\nfork-server = " + world.forkSocket
        + "\n; write " + (++baseWrites) + "\n");
  }

  private void writeApp(String name) throws IOException {
    if (!apps.containsKey(name)) {
      apps.put(name, Ports.free());
    }
    int port = apps.get(name);
    world.writeApp(name, port, "processes = 2\npsgi = " + world.app("version.psgi") + "\nenv = APP_VERSION=1\n");
  }

  private void startWith(String... names) throws Exception {
    writeCode("1", "");
    writeBase();
    for (String n : names) {
      writeApp(n);
    }
    emperor = world.start(world.builder().deployBatch(2));
    for (String n : names) {
      awaitCode(n, "1");
    }
  }

  private void awaitCode(String app, String version) throws Exception {
    Http.awaitBody(apps.get(app), "code " + version + " ", WAIT);
  }

  /** Every answer from every app is code {@code version}. */
  private void assertAllOnCode(String version) throws Exception {
    for (Map.Entry<String, Integer> e : apps.entrySet()) {
      for (int i = 0; i < 10; i++) {
        String body = Http.get(e.getValue()).body();
        assertTrue(body.startsWith("code " + version + " "), e.getKey() + " answered " + body);
      }
    }
  }

  private void loadAll() throws InterruptedException {
    for (int port : apps.values()) {
      loads.add(Load.start(port, 2));
    }
    for (Load l : loads) {
      l.awaitMore(50, WAIT);
    }
  }

  private void stopLoadAndAssertNothingFailed() throws InterruptedException {
    long ok = 0;
    for (Load l : loads) {
      l.close();
      assertTrue(l.failures().isEmpty(), l.failures().size() + " failed: " + l.failures());
      ok += l.ok();
    }
    assertTrue(ok > 300, "the load ran: " + ok);
    loads.clear();
  }

  @Override
  void closeWorldHook() throws Exception {
    for (Load l : loads) {
      l.close();
    }
  }

  @Test
  void touchingTheBaseMovesEveryVassalToTheNewCodeWithoutLosingARequest() throws Exception {
    startWith("app1.ini", "app2.ini", "app3.ini");
    int oldBase = view("base.ini").pid();
    assertEquals(1, view("base.ini").generation());
    loadAll();

    writeCode("2", "");
    long t0 = System.nanoTime();
    writeBase();
    VassalEvent done = world.events.await("base.ini", Type.DEPLOY_FINISHED, 1, WAIT);
    System.out.printf("MEASURE deploy of 3 vassals: touch -> finished in %d ms (%s)%n",
        (System.nanoTime() - t0) / 1_000_000, done.detail());
    for (Load l : loads) {
      l.awaitMore(50, WAIT);
    }
    stopLoadAndAssertNothingFailed();
    assertAllOnCode("2");
    assertTrue(done.detail().startsWith("3 vassal(s) moved to generation 2"), done.detail());
    Await.until("the old base gone", WAIT, () -> ProcFs.stat(oldBase).isEmpty());
    assertEquals(2, view("base.ini").generation());
    for (String app : apps.keySet()) {
      assertEquals(2, view(app).baseGeneration(), app);
      assertEquals(view("base.ini").pid(), ProcFs.stat(view(app).pid()).orElseThrow().session(), app);
    }
    assertTrue(Files.exists(world.forkSocket));

    // the same from Java, with the events a host program sees
    writeCode("3", "");
    emperor.deploy("base.ini").get(10, TimeUnit.SECONDS);
    world.events.await("base.ini", Type.DEPLOY_FINISHED, 2, WAIT);
    assertAllOnCode("3");
    assertEquals(2, world.events.count("base.ini", Type.DEPLOY_STARTED));
    assertEquals(0, world.events.count("base.ini", Type.DEPLOY_FAILED));
    assertTrue(emperor.deploys().isEmpty());
  }

  @Test
  void aBrokenDeployChangesNothingAndTheFixedCodeDeploys() throws Exception {
    startWith("app1.ini", "app2.ini");
    int oldBase = view("base.ini").pid();
    loadAll();
    writeCode("2", "sub broken {");   // a syntax error: the new base dies while it loads
    writeBase();
    VassalEvent failed = world.events.await("base.ini", Type.DEPLOY_FAILED, 1, WAIT);
    assertTrue(failed.detail().contains("keeps adopting"), failed.detail());
    for (Load l : loads) {
      l.awaitMore(50, WAIT);
    }
    stopLoadAndAssertNothingFailed();
    assertAllOnCode("1");
    assertEquals(oldBase, view("base.ini").pid(), "the old base still runs");
    assertEquals(1, view("base.ini").generation());

    // an adoption after the failure still works, from the old base
    writeApp("app3.ini");
    awaitCode("app3.ini", "1");

    writeCode("3", "");
    writeBase();
    world.events.await("base.ini", Type.DEPLOY_FINISHED, 1, WAIT);
    assertAllOnCode("3");
  }

  @Test
  void theNewBaseKilledWhileItLoadsLeavesTheOldOneAdopting() throws Exception {
    startWith("app1.ini");
    loadAll();
    writeCode("2", "sleep 3;");
    writeBase();
    world.events.await("base.ini", Type.DEPLOY_STARTED, 1, WAIT);
    VassalEvent second = world.events.await("base.ini", Type.SPAWNED, 2, WAIT);
    Signals.kill(second.pid(), Signals.SIGKILL);
    world.events.await("base.ini", Type.DEPLOY_FAILED, 1, WAIT);
    for (Load l : loads) {
      l.awaitMore(50, WAIT);
    }
    stopLoadAndAssertNothingFailed();
    assertAllOnCode("1");
  }

  @Test
  void aVassalAddedWhileTheNewBaseLoadsIsMovedToo() throws Exception {
    startWith("app1.ini");
    writeCode("2", "sleep 2;");
    writeBase();
    world.events.await("base.ini", Type.SPAWNED, 2, WAIT);
    writeApp("late.ini"); // adopted by the old base while the new one loads
    awaitCode("late.ini", "1");
    world.events.await("base.ini", Type.DEPLOY_FINISHED, 1, WAIT);
    assertAllOnCode("2");
  }

  @Test
  void aBlacklistedVassalIsLeftToItsThrottleAndStartsOnTheNewCode() throws Exception {
    startWith("app1.ini");
    int badPort = Ports.free();
    world.writeApp("bad.ini", badPort, "psgi = " + world.dir.resolve("missing.psgi") + "\n");
    world.events.await("bad.ini", Type.BLACKLISTED, 1, WAIT);
    writeCode("2", "");
    writeBase();
    VassalEvent done = world.events.await("base.ini", Type.DEPLOY_FINISHED, 1, WAIT);
    assertTrue(done.detail().startsWith("1 vassal(s) moved"), done.detail());
    assertAllOnCode("2");
    apps.put("bad.ini", badPort);
    writeApp("bad.ini"); // fixed: it starts from the new base
    awaitCode("bad.ini", "2");
  }

  @Test
  void anEmperorStoppedMidDeployLeavesNothingBehind() throws Exception {
    startWith("app1.ini", "app2.ini");
    writeCode("2", "sleep 3;");
    writeBase();
    world.events.await("base.ini", Type.SPAWNED, 2, WAIT);
    emperor.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);
    assertFalse(Files.exists(world.forkSocket), "the held fork-server socket is removed");
    for (VassalView v : emperor.vassals()) {
      assertEquals(0, v.pid(), v.name() + " has no process left");
    }
    // world.close() asserts that no process is left and the temp dir goes
  }
}
