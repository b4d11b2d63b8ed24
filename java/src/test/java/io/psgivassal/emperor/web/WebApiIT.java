package io.psgivassal.emperor.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.psgivassal.emperor.api.VassalEvent.Type;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** /metrics and /api/status against each other and promtool; the actions' refusals. */
class WebApiIT {
  private static final String HOSTILE = "x<img src=x onerror=alert(1)>.ini";
  /** What the text format must escape in a label value: a quote and a backslash. */
  private static final String QUOTED = "we\"ird\\name.ini";
  private static final ObjectMapper JSON = new ObjectMapper();
  /** A sample line of the text format: name, labels, value. */
  private static final Pattern SAMPLE = Pattern.compile("^([a-z_]+)(?:\\{(.*)\\})? (\\S+)$");
  private static final Pattern LABEL = Pattern.compile("([a-z_]+)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  @Test
  void metricsPassPromtoolAndMatchTheStatsJson() throws Exception {
    try (WebFixture f = new WebFixture(true, "app1.ini", HOSTILE, QUOTED)) {
      // a respawn, so that the counters have something to agree on
      int old = f.pid("app1.ini");
      f.emperor.reload("app1.ini").get(10, TimeUnit.SECONDS);
      f.awaitNewPid("app1.ini", old);

      HttpResponse<String> m = f.get("/metrics");
      assertEquals(200, m.statusCode());
      assertTrue(m.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"),
          m.headers().toString());
      Promtool check = promtool(m.body());
      assertEquals(0, check.exit, "promtool check metrics: " + check.output + "\n" + m.body());

      // the figures of one moment: retry while a vassal moves between the two reads
      JsonNode status = null;
      Map<String, Double> metrics = null;
      for (int attempt = 0; attempt < 20; attempt++) {
        JsonNode before = JSON.readTree(f.get("/api/status").body());
        metrics = samples(f.get("/metrics").body());
        status = JSON.readTree(f.get("/api/status").body());
        if (before.get("vassals").equals(status.get("vassals"))) {
          break;
        }
        Thread.sleep(200);
      }
      Map<String, Integer> byState = new HashMap<>();
      for (JsonNode v : status.get("vassals")) {
        String name = v.get("id").asText();
        String state = v.get("state").asText();
        byState.merge(state, 1, Integer::sum);
        assertEquals(Math.max(v.get("pid").asInt(), 0), metrics.get("emperor_vassal_pid{vassal=" + name + "}").intValue(), name);
        assertEquals(v.get("respawns").asInt(), metrics.get("emperor_vassal_respawns_total{vassal=" + name + "}").intValue(), name);
        assertEquals(1.0, metrics.get("emperor_vassal_state{state=" + state + ",vassal=" + name + "}"), name + " " + state);
        boolean up = List.of("running", "ready", "accepting", "loyal").contains(state);
        assertEquals(up ? 1.0 : 0.0, metrics.get("emperor_vassal_up{vassal=" + name + "}"), name);
      }
      for (Map.Entry<String, Integer> e : byState.entrySet()) {
        assertEquals(e.getValue().doubleValue(), metrics.get("emperor_vassals{state=" + e.getKey() + "}"), e.getKey());
      }
      assertEquals(status.get("vassals").size(), metrics.entrySet().stream()
          .filter(e -> e.getKey().startsWith("emperor_vassals{")).mapToDouble(Map.Entry::getValue).sum());
      assertEquals(status.get("blacklist").size(), metrics.get("emperor_blacklisted_vassals").intValue());
      assertEquals(1, metrics.get("emperor_vassal_respawns_total{vassal=app1.ini}").intValue());
      assertEquals(1, metrics.get("emperor_vassal_deaths_total{vassal=app1.ini}").intValue(), "the old generation's exit");
      assertTrue(metrics.get("emperor_adoptions_total") >= 4, "app1 twice and the other two: " + metrics);
      assertTrue(m.body().contains("vassal=\"we\\\"ird\\\\name.ini\""), "escaped label: " + m.body());
      double adoptions = metrics.get("emperor_adoptions_total");
      assertEquals(adoptions, metrics.get("emperor_adoption_latency_seconds_count"), "every adoption timed");
      assertEquals(adoptions, metrics.get("emperor_adoption_latency_seconds_bucket{le=+Inf}"));
      assertTrue(metrics.get("emperor_adoption_latency_seconds_sum") > 0, metrics.toString());
      assertEquals(adoptions, f.emperor.adoptionLatencies().count());
      assertTrue(metrics.get("emperor_threads") > 0 && metrics.get("emperor_open_fds") > 0
          && metrics.get("emperor_resident_memory_bytes") > 1e6, metrics.toString());
      assertEquals(HOSTILE, status.get("vassals").findValues("id").stream().map(JsonNode::asText)
          .filter(HOSTILE::equals).findFirst().orElseThrow());
    }
  }

  @Test
  void actionsWithoutTheTokenOrThroughGetOrFromAnotherOriginAreRefusedAndChangeNothing() throws Exception {
    try (WebFixture f = new WebFixture(true, "app1.ini", "app2.ini")) {
      Map<String, Integer> pids = Map.of("app1.ini", f.pid("app1.ini"), "app2.ini", f.pid("app2.ini"), "base.ini", f.pid("base.ini"));
      String reload = f.url("/api/reload?vassal=app1.ini");
      String stop = f.url("/api/stop?vassal=app2.ini");
      String bearer = "Bearer " + WebFixture.TOKEN;
      for (String action : List.of(reload, stop, f.url("/api/deploy?vassal=base.ini"))) {
        assertRefused(403, "no token", f.send(post(action)));
        assertRefused(403, "wrong token", f.send(post(action).header("Authorization", "Bearer not-" + WebFixture.TOKEN)));
        assertRefused(403, "token without Bearer", f.send(post(action).header("Authorization", WebFixture.TOKEN)));
        assertRefused(405, "GET with the token", f.send(HttpRequest.newBuilder(URI.create(action)).GET()
            .header("Authorization", bearer)));
        assertRefused(403, "another origin", f.send(post(action).header("Authorization", bearer)
            .header("Origin", "http://evil.example")));
        assertRefused(403, "another site", f.send(post(action).header("Authorization", bearer)
            .header("Sec-Fetch-Site", "cross-site")));
      }
      Thread.sleep(2000); // anything wrongly started would show by now
      for (Map.Entry<String, Integer> e : pids.entrySet()) {
        assertEquals(e.getValue(), f.pid(e.getKey()), e.getKey() + " untouched");
        assertFalse(f.world.events.typesOf(e.getKey()).contains(Type.RELOAD_SENT), f.world.events.toString());
        assertFalse(f.world.events.typesOf(e.getKey()).contains(Type.CURSED), f.world.events.toString());
      }
      // the same request with the token, from the page's own origin, does act
      HttpResponse<String> ok = f.send(post(reload).header("Authorization", bearer).header("Origin", f.url("")
          .replaceAll("/$", "")));
      assertEquals(200, ok.statusCode(), ok.body());
      f.awaitNewPid("app1.ini", pids.get("app1.ini"));
      assertEquals(pids.get("app2.ini"), f.pid("app2.ini"));
      // refusals name the problem: an unknown vassal is a conflict, not a crash
      HttpResponse<String> unknown = f.send(post(f.url("/api/reload?vassal=nope.ini")).header("Authorization", bearer));
      assertEquals(409, unknown.statusCode());
      assertTrue(unknown.body().contains("no vassal named nope.ini"), unknown.body());
    }
  }

  @Test
  void withoutATokenFileTheDashboardIsReadOnly() throws Exception {
    try (WebFixture f = new WebFixture(false, "app1.ini")) {
      int pid = f.pid("app1.ini");
      assertFalse(JSON.readTree(f.get("/api/dashboard").body()).get("actions").asBoolean());
      for (String token : List.of("", "anything", WebFixture.TOKEN)) {
        HttpResponse<String> r = f.send(post(f.url("/api/reload?vassal=app1.ini")).header("Authorization", "Bearer " + token));
        assertRefused(403, "read-only, token '" + token + "'", r);
        assertTrue(r.body().contains("--emperor-web-token-file"), r.body());
      }
      Thread.sleep(1000);
      assertEquals(pid, f.pid("app1.ini"));
    }
  }

  @Test
  void clientsThatNeverFinishOrNeverReadCostTheEmperorNothing() throws Exception {
    try (WebFixture f = new WebFixture(true, "app1.ini", "app2.ini")) {
      List<java.net.Socket> flood = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < 100; i++) {
          java.net.Socket s = new java.net.Socket("127.0.0.1", f.web.port());
          flood.add(s);
          // half a request (never finished), or a whole one whose answer is never read
          String req = i % 2 == 0 ? "GET /api/status HTTP/1.1\r\nHost: x\r\n"
              : "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
          s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
        }
        // the Emperor goes on: a reload is done at once, and the vassals serve
        int old = f.pid("app1.ini");
        long t0 = System.nanoTime();
        f.emperor.reload("app1.ini").get(2, TimeUnit.SECONDS);
        f.awaitNewPid("app1.ini", old);
        assertEquals(200, io.psgivassal.emperor.testing.Http.get(f.ports.get("app2.ini")).status());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(20), "reload took long under the flood");
        long webThreads = Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().startsWith("emperor-web-")).count();
        assertTrue(webThreads <= WebDashboard.THREADS, webThreads + " web threads");
      } finally {
        for (java.net.Socket s : flood) {
          s.close();
        }
      }
      // and the dashboard itself serves again once they are gone (at worst after the request time limit)
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WebDashboard.MAX_REQUEST_SECONDS + 10);
      HttpResponse<String> r = null;
      while (System.nanoTime() < deadline) {
        try {
          r = f.get("/api/status");
          break;
        } catch (java.io.IOException e) {
          Thread.sleep(200);
        }
      }
      assertEquals(200, r == null ? -1 : r.statusCode());
    }
  }

  private static HttpRequest.Builder post(String url) {
    return HttpRequest.newBuilder(URI.create(url)).POST(HttpRequest.BodyPublishers.noBody());
  }

  private static void assertRefused(int code, String what, HttpResponse<String> r) {
    assertEquals(code, r.statusCode(), what + ": " + r.body());
  }

  /** Samples by "name{label=value,...}" (labels sorted, values unescaped), or by name alone. */
  private static Map<String, Double> samples(String text) {
    Map<String, Double> m = new HashMap<>();
    for (String line : text.split("\n")) {
      Matcher s = SAMPLE.matcher(line);
      if (line.startsWith("#") || !s.matches()) {
        continue;
      }
      StringBuilder key = new StringBuilder(s.group(1));
      if (s.group(2) != null) {
        java.util.TreeMap<String, String> labels = new java.util.TreeMap<>();
        Matcher l = LABEL.matcher(s.group(2));
        while (l.find()) {
          labels.put(l.group(1), unescape(l.group(2)));
        }
        key.append('{');
        labels.forEach((k, v) -> key.append(k).append('=').append(v).append(','));
        key.setLength(key.length() - 1);
        key.append('}');
      }
      m.put(key.toString(), Double.parseDouble(s.group(3)));
    }
    return m;
  }

  /** A label value of the text format: \\, \" and \n stand for a backslash, a quote, a newline. */
  private static String unescape(String v) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c == '\\' && i + 1 < v.length()) {
        char n = v.charAt(++i);
        b.append(n == 'n' ? '\n' : n);
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private record Promtool(int exit, String output) {}

  private static Promtool promtool(String metrics) throws Exception {
    Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
    try {
      try (OutputStream in = p.getOutputStream()) {
        in.write(metrics.getBytes(StandardCharsets.UTF_8));
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      try (InputStream o = p.getInputStream()) {
        o.transferTo(out);
      }
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "promtool did not finish");
      return new Promtool(p.exitValue(), out.toString(StandardCharsets.UTF_8));
    } finally {
      p.destroyForcibly();
      p.waitFor();
    }
  }
}
