package io.psgivassal.emperor.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CodecEdgeCasesTest {
  @Test
  void largestBodyRoundTrips() throws Exception {
    byte[] body = new byte[65535];
    body[65534] = 9;
    byte[] wire = new UwsgiPacket(115, 0, body).encode();
    assertEquals(65539, wire.length);
    assertEquals((byte) 0xFF, wire[1]);
    assertEquals((byte) 0xFF, wire[2]);
    UwsgiPacket back = UwsgiPacket.decode(wire);
    assertArrayEquals(body, back.body());
  }

  @Test
  void oversizedBodyRefusedAtEncode() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new UwsgiPacket(115, 0, new byte[65536]));
    assertEquals("uwsgi packet body is 65536 bytes, at most 65535 fit in pktsize", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ConfigPacket.of("x".repeat(65536)));
    // 3 items of 21845 bytes + 6 length bytes = 65541 > 65535
    String big = "y".repeat(21845);
    assertThrows(IllegalArgumentException.class, () -> UwsgiArray.encodeStrings(List.of(big, big, big)));
  }

  @Test
  void emptyArgvItemAndEmptyBody() throws Exception {
    ForkServerRequest r = new ForkServerRequest(1, List.of("/bin/x", "", "--ini"));
    byte[] wire = r.encode();
    assertEquals(r, ForkServerRequest.decode(wire));
    assertEquals(List.of(), UwsgiArray.decode(new byte[0]));
    UwsgiPacket empty = UwsgiPacket.decode(new byte[] {35, 0, 0, 1});
    assertEquals(0, empty.bodyLength());
    MalformedPacketException e = assertThrows(MalformedPacketException.class, () -> ForkServerRequest.decode(new byte[] {35, 0, 0, 1}));
    assertEquals("fork-server request: empty argv", e.getMessage());
  }

  @Test
  void headerShortAndTrailingGarbage() {
    MalformedPacketException e = assertThrows(MalformedPacketException.class, () -> UwsgiPacket.decode(new byte[] {35, 0}));
    assertEquals("uwsgi packet: 2 bytes, shorter than the 4-byte header", e.getMessage());
    e = assertThrows(MalformedPacketException.class, () -> UwsgiPacket.decode(new byte[] {35, 1, 0, 0, 7, 8, 9}));
    assertEquals("uwsgi packet: 2 bytes of trailing garbage after the 1-byte body", e.getMessage());
  }

  @Test
  void itemLengthCutInHalf() {
    MalformedPacketException e = assertThrows(MalformedPacketException.class, () -> UwsgiArray.decode(new byte[] {1, 0, 'a', 5}));
    assertEquals("array item 1 at offset 3: only 1 byte left for its 2-byte length in the 4-byte body", e.getMessage());
  }

  @Test
  void dictStrictness() throws Exception {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("pid", "77");
    m.put("extra", "");
    byte[] body = UwsgiDict.encode(m);
    assertEquals(List.copyOf(m.entrySet()), List.copyOf(UwsgiDict.decode(body).entrySet()));
    MalformedPacketException e = assertThrows(MalformedPacketException.class,
        () -> UwsgiDict.decode(new byte[] {3, 0, 'p', 'i', 'd'}));
    assertEquals("dict key 0 (\"pid\") has no value: the body ends after it", e.getMessage());
    e = assertThrows(MalformedPacketException.class,
        () -> UwsgiDict.decode(new byte[] {3, 0, 'p', 'i', 'd', 9, 0, '1'}));
    assertEquals("dict value 0 at offset 5 declares 9 bytes but only 1 remain in the 8-byte body", e.getMessage());
  }

  @Test
  void pidResponses() throws Exception {
    PidResponse failed = PidResponse.decode(new PidResponse(Map.of("pid", "-1")).encode());
    assertTrue(failed.isFailure());
    assertTrue(failed.pid().isEmpty());
    Map<String, String> withExtra = new LinkedHashMap<>();
    withExtra.put("pid", "123");
    withExtra.put("note", "ignored");
    assertEquals(123, PidResponse.decode(new PidResponse(withExtra).encode()).pid().getAsInt());
    MalformedPacketException e = assertThrows(MalformedPacketException.class,
        () -> PidResponse.decode(new UwsgiPacket(35, 0, UwsgiDict.encode(Map.of("pid", "12x"))).encode()));
    assertEquals("fork-server reply: pid \"12x\" is not a positive decimal pid", e.getMessage());
    e = assertThrows(MalformedPacketException.class,
        () -> PidResponse.decode(new UwsgiPacket(35, 0, UwsgiDict.encode(Map.of("id", "1"))).encode()));
    assertEquals("fork-server reply: no \"pid\" key among [id]", e.getMessage());
  }

  @Test
  void byteBufferDecodeConsumesExactlyOnePacket() throws Exception {
    ByteBuffer buf = ByteBuffer.wrap(new UwsgiPacket(1, 2, new byte[] {3}).encode());
    assertEquals(new UwsgiPacket(1, 2, new byte[] {3}), UwsgiPacket.decode(buf));
    assertEquals(0, buf.remaining());
  }

  @Test
  void maskValidation() {
    assertThrows(IllegalArgumentException.class, () -> new ForkServerRequest(0x02, List.of("x")));
    MalformedPacketException e = assertThrows(MalformedPacketException.class,
        () -> ForkServerRequest.decode(new UwsgiPacket(35, 0x09, UwsgiArray.encodeStrings(List.of("x"))).encode()));
    assertEquals("fork-server request: descriptor mask 0x9 must include 0x01 and only 0x01|0x02|0x04", e.getMessage());
  }
}
