package io.psgivassal.emperor.stats;

import io.psgivassal.emperor.api.BlacklistEntry;
import io.psgivassal.emperor.api.DeployView;
import io.psgivassal.emperor.api.EmperorStatus;
import io.psgivassal.emperor.api.VassalView;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * The document uWSGI's Emperor writes on its stats socket (PROTOCOL.md §7), field for field, with
 * times in Unix seconds (0 for never), plus extras a uWSGI client ignores: each vassal's
 * {@code state}, {@code config}, {@code fork_server}, {@code blacklisted} and {@code http}, and
 * {@code attrs} as an object (uWSGI writes a list of key/value pairs that is not valid JSON), each
 * vassal's code {@code generation} (a base) or {@code base_generation} (an adopted vassal), and the
 * {@code deploys} under way.
 */
public final class StatsJson {
  private StatsJson() {}

  public static String render(EmperorStatus s) {
    JsonWriter w = new JsonWriter().beginObject()
        .field("version", s.version())
        .field("pid", s.pid())
        .field("uid", s.uid())
        .field("gid", s.gid())
        .field("cwd", s.cwd());
    w.key("emperor").beginArray();
    s.monitors().forEach(w::value);
    w.endArray();
    w.field("emperor_tyrant", 0).field("throttle_level", s.throttleLevelSeconds());
    w.key("vassals").beginArray();
    for (VassalView v : s.vassals()) {
      vassal(w, v);
    }
    w.endArray();
    w.key("blacklist").beginArray();
    for (BlacklistEntry b : s.blacklist()) {
      w.beginObject()
          .field("id", b.vassal())
          .field("throttle_level", b.throttle().toSeconds())
          .field("attempt", b.attempt())
          .field("first_attempt", b.firstAttempt().getEpochSecond())
          .field("last_attempt", b.lastAttempt().getEpochSecond())
          // extra: the throttle with millisecond precision
          .field("throttle_ms", b.throttle().toMillis())
          .endObject();
    }
    w.endArray();
    // extra: deploys in progress
    w.key("deploys").beginArray();
    for (DeployView d : s.deploys()) {
      w.beginObject()
          .field("base", d.base())
          .field("fork_server", d.forkServer().toString())
          .field("generation", d.generation())
          .field("started", d.started().getEpochSecond())
          .field("rolling", d.rolling() ? 1 : 0)
          .field("moving", d.moving())
          .field("moved", d.moved());
      w.key("failed").beginArray();
      d.failed().forEach(w::value);
      w.endArray();
      w.endObject();
    }
    w.endArray();
    return w.endObject().toString();
  }

  private static void vassal(JsonWriter w, VassalView v) {
    w.beginObject()
        .field("id", v.name())
        .field("pid", v.pid() > 0 ? v.pid() : -1) // uWSGI says -1 when no process runs
        .field("born", secs(v.born()))
        .field("last_mod", secs(v.lastModified()))
        .field("last_heartbeat", secs(v.lastHeartbeat()))
        .field("loyal", v.loyal() ? 1 : 0)
        .field("ready", v.ready() ? 1 : 0)
        .field("accepting", v.accepting() ? 1 : 0)
        .field("last_loyal", secs(v.lastLoyal()))
        .field("last_ready", secs(v.lastReady()))
        .field("last_accepting", secs(v.lastAccepting()))
        .field("first_run", secs(v.firstRun()))
        .field("last_run", secs(v.lastRun()))
        .field("cursed", secs(v.cursed()))
        .field("zerg", 0)
        .field("on_demand", v.onDemand().orElse(""))
        .field("suspended", 0)
        .field("adopted", v.adopted() ? 1 : 0)
        .field("uid", v.uid())
        .field("gid", v.gid())
        .field("monitor", v.monitor())
        .field("respawns", v.respawns())
        // extras
        .field("state", v.state().name().toLowerCase(java.util.Locale.ROOT))
        .field("config", v.configPath().map(Object::toString).orElse("emperor://" + v.name()))
        .field("fork_server", v.forkServer().map(Object::toString).orElse(""))
        .field("blacklisted", v.blacklisted() ? 1 : 0)
        .field("http", v.httpUrl().map(Object::toString).orElse(""))
        .field("generation", v.generation())
        .field("base_generation", v.baseGeneration());
    w.key("attrs").beginObject();
    for (Map.Entry<String, String> a : v.attributes().entrySet()) {
      w.field(a.getKey(), a.getValue());
    }
    w.endObject();
    w.endObject();
  }

  private static long secs(Optional<Instant> t) {
    return t.map(Instant::getEpochSecond).orElse(0L);
  }
}
