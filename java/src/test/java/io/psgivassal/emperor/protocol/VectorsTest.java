package io.psgivassal.emperor.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The shared byte vectors, checked against a real uWSGI 2.1 fork server by their author. */
class VectorsTest {
  static byte[] vector(String name) throws Exception {
    String dir = System.getProperty("shared.vectors");
    if (dir == null) {
      throw new IllegalStateException("system property shared.vectors is not set (see pom.xml)");
    }
    return Files.readAllBytes(Path.of(dir, name));
  }

  @Test
  void requestIni() throws Exception {
    byte[] bytes = vector("request-ini.bin");
    ForkServerRequest r = ForkServerRequest.decode(bytes);
    assertEquals(0x01, r.mask());
    assertEquals(1, r.descriptorCount());
    assertEquals(List.of("/usr/local/bin/uwsgi", "--ini", "app1.ini"), r.argv());
    assertArrayEquals(bytes, r.encode());
    assertArrayEquals(bytes, new ForkServerRequest(ForkServerRequest.maskFor(false, false), r.argv()).encode());
  }

  @Test
  void requestConfigOnDemand() throws Exception {
    byte[] bytes = vector("request-config-ondemand.bin");
    ForkServerRequest r = ForkServerRequest.decode(bytes);
    assertEquals(0x07, r.mask());
    assertEquals(3, r.descriptorCount());
    assertEquals(List.of("/usr/local/bin/uwsgi", "--ini", "emperor://app2.ini"), r.argv());
    assertArrayEquals(bytes, r.encode());
    assertEquals(0x07, ForkServerRequest.maskFor(true, true));
  }

  @Test
  void responsePid() throws Exception {
    byte[] bytes = vector("response-pid.bin");
    PidResponse r = PidResponse.decode(bytes);
    assertEquals(4242, r.pid().getAsInt());
    assertEquals(Map.of("pid", "4242"), r.dict());
    assertArrayEquals(bytes, r.encode());
    assertArrayEquals(bytes, PidResponse.of(4242).encode());
  }

  @Test
  void configPacket() throws Exception {
    byte[] bytes = vector("config-packet.bin");
    ConfigPacket c = ConfigPacket.decode(bytes);
    assertEquals("[uwsgi]\nhttp-socket = 127.0.0.1:8081\nprocesses = 2\n", c.textAsString());
    assertArrayEquals(bytes, c.encode());
    assertArrayEquals(bytes, ConfigPacket.of(c.textAsString()).encode());
  }

  @Test
  void badModifier1() throws Exception {
    byte[] bytes = vector("bad-modifier1.bin");
    UwsgiPacket.decode(bytes); // a well-formed packet, just not a fork-server request
    MalformedPacketException e = assertThrows(MalformedPacketException.class, () -> ForkServerRequest.decode(bytes));
    assertEquals("fork-server request: modifier1 is 0, expected 35", e.getMessage());
  }

  @Test
  void badTruncatedBody() throws Exception {
    byte[] bytes = vector("bad-truncated-body.bin");
    MalformedPacketException e = assertThrows(MalformedPacketException.class, () -> ForkServerRequest.decode(bytes));
    assertEquals("uwsgi packet: body is 36 bytes but pktsize says 39", e.getMessage());
  }

  @Test
  void badItemOverruns() throws Exception {
    byte[] bytes = vector("bad-item-overruns.bin");
    MalformedPacketException e = assertThrows(MalformedPacketException.class, () -> ForkServerRequest.decode(bytes));
    assertEquals("array item 0 at offset 0 declares 200 bytes but only 4 remain in the 6-byte body", e.getMessage());
  }
}
