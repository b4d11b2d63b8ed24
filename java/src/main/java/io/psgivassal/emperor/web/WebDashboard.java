package io.psgivassal.emperor.web;

import com.google.common.util.concurrent.MoreExecutors;
import com.google.common.util.concurrent.ThreadFactoryBuilder;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.stats.JsonWriter;
import io.psgivassal.emperor.stats.StatsJson;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --emperor-web HOST:PORT}: the dashboard page, {@code /api/status} (the stats JSON),
 * {@code /metrics} (Prometheus) and the vassal actions, on the JDK's HTTP server.
 *
 * <p>It never holds up the Emperor's event loop: pages and documents are built on its own few
 * threads from the Emperor's immutable snapshots, and an action only queues one short task on the
 * loop. A slow or flooding client ties up at most these threads (further requests wait in a
 * bounded queue, then in the dispatcher), never the loop. Meant for 127.0.0.1 or behind a proxy:
 * it speaks plain HTTP.
 */
public final class WebDashboard implements Closeable {
  private static final Logger log = LoggerFactory.getLogger(WebDashboard.class);
  /** Request threads; more would only let a flood compete harder for the Emperor's two cores. */
  static final int THREADS = 4;
  private static final int QUEUED = 64;
  private static final long ACTION_WAIT_SECONDS = 5;
  static final int MAX_REQUEST_SECONDS = 10;
  private static final String RESOURCES = "/io/psgivassal/emperor/web/";
  private static final Map<String, String> PAGES = Map.of(
      "/", "index.html", "/index.html", "index.html", "/dashboard.js", "dashboard.js", "/dashboard.css", "dashboard.css");
  private static final Map<String, String> TYPES = Map.of(
      "html", "text/html; charset=utf-8", "js", "text/javascript; charset=utf-8", "css", "text/css; charset=utf-8");
  /** The actions, by path: each returns what the Emperor says of it. */
  private static final Map<String, ActionCall> ACTIONS = Map.of(
      "/api/reload", Emperor::reload, "/api/stop", Emperor::stop, "/api/start", Emperor::start,
      "/api/deploy", Emperor::deploy);

  private interface ActionCall {
    CompletableFuture<Void> run(Emperor e, String vassal);
  }

  private final Emperor emperor;
  private final ActionGuard guard;
  private final EventTally tally = new EventTally();
  private final EmperorMetrics metrics = new EmperorMetrics(tally);
  private final HttpServer server;
  private final ThreadPoolExecutor pool;

  private WebDashboard(Emperor emperor, ActionGuard guard, InetSocketAddress address) throws IOException {
    this.emperor = emperor;
    this.guard = guard;
    server = HttpServer.create(address, 64);
    // a full queue makes the dispatcher serve the request itself: the HTTP server slows, nothing else
    pool = new ThreadPoolExecutor(THREADS, THREADS, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUED),
        new ThreadFactoryBuilder().setNameFormat("emperor-web-%d").setDaemon(true).build(),
        new ThreadPoolExecutor.CallerRunsPolicy());
    server.setExecutor(pool);
    server.createContext("/", this::handle);
  }

  /**
   * Serves the dashboard of {@code emperor} on {@code hostPort}; call before the Emperor starts so
   * that its counters see every event.
   *
   * @param tokenFile the actions' token; without it the dashboard is read-only
   * @throws IllegalArgumentException naming the flag, when the address or the token file cannot work
   */
  public static WebDashboard start(Emperor emperor, String hostPort, Optional<Path> tokenFile) {
    InetSocketAddress address = parseAddress(hostPort);
    boundSlowClients();
    ActionGuard guard = tokenFile.map(ActionGuard::fromFile).orElse(ActionGuard.none());
    WebDashboard web;
    try {
      web = new WebDashboard(emperor, guard, address);
    } catch (IOException e) {
      throw new IllegalArgumentException("--emperor-web " + hostPort + ": cannot listen there (" + e.getMessage() + ")", e);
    }
    emperor.addListener(web.tally, MoreExecutors.directExecutor());
    web.server.start();
    log.info("web dashboard on http://{}:{}/ ({})", address.getHostString(), web.port(),
        guard.enabled() ? "actions need the token" : "read-only: no --emperor-web-token-file");
    return web;
  }

  /**
   * The JDK server reads a request and writes its answer on a worker thread: a client that never
   * finishes its request, or never reads, would hold one of the few for good. These limits (in
   * seconds; read once, when the JVM's first HttpServer is made; a value set already is kept) make
   * the server drop such a connection.
   */
  private static void boundSlowClients() {
    if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
      System.setProperty("sun.net.httpserver.maxReqTime", String.valueOf(MAX_REQUEST_SECONDS));
    }
    if (System.getProperty("sun.net.httpserver.maxRspTime") == null) {
      System.setProperty("sun.net.httpserver.maxRspTime", "30");
    }
  }

  /** @throws IllegalArgumentException naming the flag, when {@code hostPort} is not HOST:PORT */
  static InetSocketAddress parseAddress(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    if (colon <= 0 || colon == hostPort.length() - 1) {
      throw new IllegalArgumentException("--emperor-web " + hostPort + ": expected HOST:PORT, e.g. 127.0.0.1:9191");
    }
    String host = hostPort.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(hostPort.substring(colon + 1));
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--emperor-web " + hostPort + ": the port must be a number from 0 to 65535");
    }
    InetSocketAddress a = new InetSocketAddress(host, port);
    if (a.isUnresolved()) {
      throw new IllegalArgumentException("--emperor-web " + hostPort + ": unknown host " + host);
    }
    return a;
  }

  /** The port bound (useful when asked for port 0). */
  public int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
    pool.shutdownNow();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      ActionCall action = ACTIONS.get(path);
      if (action != null) {
        act(ex, action);
      } else if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
        ex.getResponseHeaders().set("Allow", "GET, HEAD");
        send(ex, 405, "text/plain; charset=utf-8", "only GET here\n");
      } else if (path.equals("/api/status")) {
        send(ex, 200, "application/json", StatsJson.render(emperor.status()));
      } else if (path.equals("/api/dashboard")) {
        send(ex, 200, "application/json", dashboardJson());
      } else if (path.equals("/metrics")) {
        send(ex, 200, metrics.contentType(), metrics.render(emperor.status(), emperor.adoptionLatencies(),
            ProcessFigures.now()));
      } else if (PAGES.containsKey(path)) {
        page(ex, PAGES.get(path));
      } else {
        send(ex, 404, "text/plain; charset=utf-8", "not found\n");
      }
    } catch (RuntimeException e) {
      log.warn("web dashboard: {} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
      throw e;
    }
  }

  /** What the stats JSON lacks: the Emperor's own figures, last exits, and whether actions are possible. */
  private String dashboardJson() {
    ProcessFigures p = ProcessFigures.now();
    JsonWriter w = new JsonWriter().beginObject()
        .field("actions", guard.enabled())
        .field("threads", p.threads())
        .field("open_fds", p.openFds())
        .field("rss", p.residentBytes());
    w.key("exits").beginObject();
    tally.lastExits().forEach((name, e) -> {
      w.key(name).beginObject().field("status", e.status()).field("reason", e.reason())
          .field("at", e.at().getEpochSecond()).endObject();
    });
    w.endObject();
    return w.endObject().toString();
  }

  private void act(HttpExchange ex, ActionCall action) throws IOException {
    ex.getRequestBody().readAllBytes();
    if (!ex.getRequestMethod().equals("POST")) {
      ex.getResponseHeaders().set("Allow", "POST");
      send(ex, 405, "text/plain; charset=utf-8", "actions are POST only\n");
      return;
    }
    String refused = guard.refusal(ex);
    if (refused != null) {
      log.warn("web dashboard: {} {} from {}: {}", ex.getRequestMethod(), ex.getRequestURI(), ex.getRemoteAddress(), refused);
      send(ex, 403, "text/plain; charset=utf-8", refused + "\n");
      return;
    }
    String vassal = query(ex, "vassal");
    if (vassal == null || vassal.isEmpty()) {
      send(ex, 400, "text/plain; charset=utf-8", "which vassal? (?vassal=NAME)\n");
      return;
    }
    log.info("web dashboard: {} {} from {}", ex.getRequestURI().getPath(), vassal, ex.getRemoteAddress());
    try {
      action.run(emperor, vassal).get(ACTION_WAIT_SECONDS, TimeUnit.SECONDS);
      send(ex, 200, "text/plain; charset=utf-8", "ok\n");
    } catch (ExecutionException e) {
      int code = e.getCause() instanceof IllegalArgumentException ? 409 : 503;
      send(ex, code, "text/plain; charset=utf-8", e.getCause().getMessage() + "\n");
    } catch (TimeoutException e) {
      send(ex, 503, "text/plain; charset=utf-8", "the Emperor did not answer within " + ACTION_WAIT_SECONDS + " s\n");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      send(ex, 503, "text/plain; charset=utf-8", "interrupted\n");
    }
  }

  private static String query(HttpExchange ex, String name) {
    String q = ex.getRequestURI().getRawQuery();
    if (q == null) {
      return null;
    }
    for (String pair : q.split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0 && pair.substring(0, eq).equals(name)) {
        return URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      }
    }
    return null;
  }

  private void page(HttpExchange ex, String file) throws IOException {
    byte[] body;
    try (InputStream in = WebDashboard.class.getResourceAsStream(RESOURCES + file)) {
      if (in == null) {
        throw new IllegalStateException("dashboard resource " + file + " missing from the jar");
      }
      body = in.readAllBytes();
    }
    String ext = file.substring(file.lastIndexOf('.') + 1);
    send(ex, 200, TYPES.get(ext), body);
  }

  private static void send(HttpExchange ex, int code, String type, String body) throws IOException {
    send(ex, code, type, body.getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int code, String type, byte[] body) throws IOException {
    var h = ex.getResponseHeaders();
    h.set("Content-Type", type);
    h.set("Cache-Control", "no-store");
    h.set("X-Content-Type-Options", "nosniff");
    // no inline script, no framing: what a vassal name might smuggle in could not run anyway
    h.set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
        + " connect-src 'self'; frame-ancestors 'none'; form-action 'none'");
    h.set("Referrer-Policy", "no-referrer");
    boolean head = ex.getRequestMethod().equals("HEAD");
    ex.sendResponseHeaders(code, head ? -1 : body.length == 0 ? -1 : body.length);
    if (!head) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }
}
