package io.psgivassal.emperor.web;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.Http;
import io.psgivassal.emperor.testing.Ports;
import io.psgivassal.emperor.testing.VassalWorld;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * An Emperor with real psgi-vassal processes (a base and adopted HTTP vassals) and its web
 * dashboard on a free port; {@link #close} stops the dashboard, then the world (every process
 * and file of the test).
 */
final class WebFixture implements AutoCloseable {
  static final Duration WAIT = VassalWorld.WAIT;
  static final String TOKEN = "t0ken-" + Long.toHexString(System.nanoTime());

  final VassalWorld world;
  final Emperor emperor;
  final WebDashboard web;
  final Map<String, Integer> ports = new LinkedHashMap<>();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  /** Vassals {@code names} (HTTP apps adopted from base.ini); actions guarded by {@link #TOKEN} when {@code withToken}. */
  WebFixture(boolean withToken, String... names) throws Exception {
    world = VassalWorld.create();
    WebDashboard w = null;
    Emperor e = null;
    try {
      // the base loads hello.psgi, slowly once slowBase() is called: a deploy then lasts long enough to watch
      Path base = Files.writeString(world.dir.resolve("base.psgi"), "sleep 4 if -e '" + world.dir.resolve("slow")
          + "';\nmy $app = do '" + world.hello + "' or die \"hello.psgi: $@ $!\";\n$app;\n");
      world.writeBase("base.ini", world.forkSocket, base);
      for (String n : names) {
        addVassal(n);
      }
      e = world.builder().build();
      Optional<Path> tokenFile = Optional.empty();
      if (withToken) {
        tokenFile = Optional.of(Files.writeString(world.dir.resolve("token"), TOKEN + "\n"));
      }
      w = WebDashboard.start(e, "127.0.0.1:0", tokenFile);
      Emperor started = world.start(e);
      for (String n : names) {
        Http.await200(ports.get(n), WAIT);
        Await.until(n + " accepting in the Emperor's view", WAIT,
            () -> started.vassal(n).map(v -> v.pid() > 0 && v.accepting()).orElse(false));
      }
    } catch (Exception | Error ex) {
      if (w != null) {
        w.close();
      }
      world.close();
      throw ex;
    }
    emperor = e;
    web = w;
  }

  /** From now on the base takes 4 s more to load its code. */
  void slowBase() throws Exception {
    Files.writeString(world.dir.resolve("slow"), "");
  }

  void addVassal(String name) throws Exception {
    int port = Ports.free();
    ports.put(name, port);
    world.writeApp(name, port, "");
  }

  int pid(String name) {
    return emperor.vassal(name).map(VassalView::pid).orElse(0);
  }

  /** Waits until {@code name} accepts with a process other than {@code not}; returns its pid. */
  int awaitNewPid(String name, int not) throws InterruptedException {
    Await.until(name + " on a new pid", WAIT, () -> {
      VassalView v = emperor.vassal(name).orElse(null);
      return v != null && v.pid() > 0 && v.pid() != not && v.accepting();
    });
    return pid(name);
  }

  String url(String path) {
    return "http://127.0.0.1:" + web.port() + path;
  }

  HttpResponse<String> get(String path) throws Exception {
    return send(HttpRequest.newBuilder(URI.create(url(path))).GET());
  }

  HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
    return http.send(b.timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Override
  public void close() throws Exception {
    try {
      web.close();
    } finally {
      world.close();
    }
  }
}
