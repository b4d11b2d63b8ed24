package io.psgivassal.emperor.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.psgivassal.emperor.api.BlacklistEntry;
import io.psgivassal.emperor.api.DeployView;
import io.psgivassal.emperor.api.EmperorStatus;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.api.VassalView;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StatsJsonTest {
  @Test
  void escapesEverythingJsonRequires() throws Exception {
    String nasty = "q\"b\\s/\n\r\t\b\f\u0001\u001f\u2028é€😀";
    String json = new JsonWriter().beginObject().field(nasty, nasty).key("l").beginArray().value(1).value(true)
        .value("x").endArray().key("o").beginObject().endObject().endObject().toString();
    JsonNode n = new ObjectMapper().readTree(json);
    assertEquals(nasty, n.get(nasty).asText());
    assertEquals("[1,true,\"x\"]", n.get("l").toString());
  }

  @Test
  void rendersUwsgisFieldsWithUnixSeconds() throws Exception {
    Instant t = Instant.ofEpochSecond(1_700_000_000L, 999_000_000);
    VassalView v = new VassalView("app.ini", "/etc/vassals", Optional.of(Path.of("/etc/vassals/app.ini")), true,
        Optional.of(Path.of("/run/fork.sock")), VassalState.LOYAL, 42, true, true, true, 3, Optional.of(t),
        Optional.of(t), Optional.empty(), Optional.of(t), Optional.of(t), Optional.of(t), Optional.of(t), Optional.of(t),
        Optional.empty(), Optional.empty(), false, 1000, 1000, Map.of("k", "v"), Optional.empty(), 0, 4);
    EmperorStatus s = new EmperorStatus("x", 7, 1000, 1000, "/", List.of("/etc/vassals"), 1, List.of(v),
        List.of(new BlacklistEntry("bad.ini", Duration.ofMillis(2500), 3, t, t)),
        List.of(new DeployView("base.ini", Path.of("/run/fork.sock"), 5, t, true, 2, 7, List.of("slow.ini"))));
    JsonNode n = new ObjectMapper().readTree(StatsJson.render(s));
    JsonNode j = n.get("vassals").get(0);
    assertEquals(42, j.get("pid").asInt());
    assertEquals(1_700_000_000L, j.get("born").asLong());
    assertEquals(0, j.get("last_heartbeat").asLong());
    assertEquals(0, j.get("cursed").asLong());
    assertEquals(1, j.get("adopted").asInt());
    assertEquals("", j.get("on_demand").asText());
    assertEquals("loyal", j.get("state").asText());
    assertEquals(3, j.get("respawns").asInt());
    assertEquals(4, j.get("base_generation").asInt());
    JsonNode d = n.get("deploys").get(0);
    assertEquals("base.ini", d.get("base").asText());
    assertEquals(5, d.get("generation").asInt());
    assertEquals(1, d.get("rolling").asInt());
    assertEquals(7, d.get("moved").asInt());
    assertEquals("[\"slow.ini\"]", d.get("failed").toString());
    JsonNode b = n.get("blacklist").get(0);
    assertEquals(2, b.get("throttle_level").asInt());
    assertEquals(2500, b.get("throttle_ms").asInt());
    assertEquals(3, b.get("attempt").asInt());
  }
}
