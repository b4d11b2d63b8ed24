package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent.Type;
import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.Procs;
import io.psgivassal.emperor.testing.VassalWorld;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Start/stop hooks (including failing and hanging ones), the stats socket, graceful shutdown and
 * the programmatic monitor's config-pipe vassals, with real psgi-vassal processes.
 */
class HooksStatsAndApiIT {
  private static final Duration WAIT = VassalWorld.WAIT;
  private VassalWorld world;
  private Emperor emperor;

  @BeforeEach
  void setUp() throws Exception {
    world = VassalWorld.create();
    world.writeBase();
  }

  @AfterEach
  void tearDown() throws Exception {
    world.close();
  }

  private VassalView view(String name) {
    return emperor.vassal(name).orElseThrow(() -> new AssertionError(name + " not in " + emperor.vassals()));
  }

  private Path hook(String name, String body) throws Exception {
    Path p = world.dir.resolve(name);
    Files.writeString(p, "#!/bin/sh\n" + body);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }

  @Test
  void hooksRunAroundEveryVassalAndAFailingOrHangingHookStallsNothing() throws Exception {
    Path log = world.dir.resolve("hooks.log");
    Path start = hook("start-hook", "echo \"start $1 $UWSGI_VASSAL_CONFIG $UWSGI_VASSAL_PID\" >> " + log + "\n"
        + "case $1 in hang.ini) exec sleep 30;; fail.ini) exit 3;; esac\n");
    Path stop = hook("stop-hook", "echo \"stop $1 $UWSGI_VASSAL_CONFIG $UWSGI_VASSAL_PID\" >> " + log + "\n");
    int pOk = Ports.free();
    int pHang = Ports.free();
    int pFail = Ports.free();
    world.writeApp("ok.ini", pOk, "");
    world.writeApp("hang.ini", pHang, "");
    world.writeApp("fail.ini", pFail, "");
    emperor = world.start(world.builder().startHook(start.toString()).stopHook(stop.toString())
        .hookTimeout(Duration.ofSeconds(3)));
    Http.await200(pOk, WAIT);
    Http.await200(pFail, WAIT); // a failing start hook is logged; the vassal starts anyway
    assertEquals(0, world.events.count("hang.ini", Type.SPAWNED), "hang.ini waits for its start hook");
    Http.await200(pHang, WAIT); // ... until the watchdog kills the hook
    String lines = Files.readString(log);
    Path okConfig = world.vassals.resolve("ok.ini");
    assertTrue(lines.contains("start ok.ini " + okConfig + " 0\n"), lines);

    int pid = view("ok.ini").pid();
    Files.delete(okConfig);
    world.events.await("ok.ini", Type.REMOVED, 1, WAIT);
    Await.until("stop hook ran", WAIT, () -> {
      try {
        return Files.readString(log).contains("stop ok.ini " + okConfig + " " + pid + "\n");
      } catch (java.io.IOException e) {
        return false;
      }
    });
  }

  @Test
  void theStatsSocketReportsVassalsAndTheBlacklist() throws Exception {
    int port = Ports.free();
    world.writeApp("app.ini", port, "\n[emperor]\nteam = blue\n");
    world.writeApp("broken.ini", Ports.free(), "psgi = " + world.dir.resolve("missing.psgi") + "\n");
    emperor = world.start(world.builder().stats("127.0.0.1:0").collectAttribute("team")
        .throttle(Duration.ofMillis(500)));
    Http.await200(port, WAIT);
    Await.until("app loyal", WAIT, () -> view("app.ini").loyal());
    world.events.await("broken.ini", Type.BLACKLISTED, 2, WAIT);

    JsonNode doc;
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", emperor.statsPort().getAsInt()), 10_000);
      s.setSoTimeout(20_000);
      doc = new ObjectMapper().readTree(s.getInputStream().readAllBytes());
    }
    assertEquals(world.vassals.toString(), doc.get("emperor").get(0).asText());
    JsonNode app = null;
    for (JsonNode v : doc.get("vassals")) {
      if (v.get("id").asText().equals("app.ini")) {
        app = v;
      }
    }
    assertTrue(app != null, doc.toString());
    assertEquals(view("app.ini").pid(), app.get("pid").asInt());
    assertEquals(1, app.get("loyal").asInt());
    assertEquals(1, app.get("ready").asInt());
    assertEquals(1, app.get("accepting").asInt());
    assertEquals(1, app.get("adopted").asInt());
    assertTrue(app.get("last_loyal").asLong() > 0 && app.get("born").asLong() > 0 && app.get("last_mod").asLong() > 0);
    assertEquals("blue", app.get("attrs").get("team").asText());
    assertEquals(world.vassals.toString(), app.get("monitor").asText());
    JsonNode bl = doc.get("blacklist").get(0);
    assertEquals("broken.ini", bl.get("id").asText());
    assertTrue(bl.get("attempt").asInt() >= 2);
    assertTrue(bl.get("first_attempt").asLong() > 0 && bl.get("last_attempt").asLong() >= bl.get("first_attempt").asLong());
  }

  @Test
  void gracefulShutdownFinishesRequestsInFlightAndLeavesNothing() throws Exception {
    int port = Ports.free();
    world.writeApp("slow.ini", port, "psgi = " + world.app("slow.psgi") + "\n");
    Path statsSock = world.dir.resolve("stats.sock");
    emperor = world.start(world.builder().gracefulShutdown(true).stats(statsSock.toString()));
    Await.until("accepting", WAIT, () -> emperor.vassal("slow.ini").map(VassalView::accepting).orElse(false));
    Path mark = world.dir.resolve("in-flight");
    var inFlight = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        return Http.get(port, "/?mark=" + mark, Duration.ofSeconds(30));
      } catch (java.io.IOException e) {
        throw new RuntimeException(e);
      }
    });
    Await.until("the request is being served", WAIT, () -> Files.exists(mark));
    emperor.stopAsync().awaitTerminated(60, TimeUnit.SECONDS);
    Http.Response r = inFlight.get(30, TimeUnit.SECONDS);
    assertEquals(200, r.status(), "the request in flight was finished");
    assertEquals(List.of(), Procs.vassalChildren(), "no vassal or worker left");
    assertEquals(List.of(), Procs.zombieChildren(), "no zombie left");
    assertFalse(Files.exists(statsSock), "stats socket removed");
    assertFalse(Files.exists(world.forkSocket), "fork-server socket removed");
  }

  @Test
  void aTextConfigFromJavaReachesAnAdoptedVassalOverTheConfigPipe() throws Exception {
    ProgrammaticMonitor api = new ProgrammaticMonitor("api");
    int port = Ports.free();
    api.add(VassalSpec.ofText("shop.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:" + port + "\nprocesses = 1\n"));
    emperor = world.start(world.builder().monitor(api));
    Http.await200(port, WAIT);
    assertTrue(view("shop.ini").adopted());
    assertTrue(view("shop.ini").configPath().isEmpty());

    // a changed text is a changed config: reload, and the new vassal reads the new text
    int port2 = Ports.free();
    api.update(VassalSpec.ofText("shop.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:" + port2 + "\nprocesses = 1\n"));
    world.events.await("shop.ini", Type.RELOAD_SENT, 1, WAIT);
    Http.await200(port2, WAIT);
    assertEquals(0, world.events.count("shop.ini", Type.BLACKLISTED));

    api.remove("shop.ini");
    world.events.await("shop.ini", Type.REMOVED, 1, WAIT);
  }
}
