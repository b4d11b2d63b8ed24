package io.psgivassal.emperor.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Property-based fuzz of the codec (issue 5): random bytes and packets mutated from the shapes
 * of the shared vectors (truncated, oversized, wrong modifier1, arrays and dicts whose items
 * overrun the body) never make a decoder throw anything but {@link MalformedPacketException},
 * and encode/decode round-trip.
 */
class CodecFuzzTest {
  /** Every decoder of the package, fed the same bytes. */
  private interface Decoder {
    Object decode(byte[] b) throws MalformedPacketException;
  }

  private static final List<Decoder> DECODERS = List.of(
      UwsgiPacket::decode, ForkServerRequest::decode, PidResponse::decode, ConfigPacket::decode,
      UwsgiArray::decode, UwsgiArray::decodeStrings, UwsgiDict::decode,
      b -> UwsgiArray.decode(UwsgiPacket.decode(b).body()), b -> UwsgiDict.decode(UwsgiPacket.decode(b).body()));

  private static final List<byte[]> VECTORS = loadVectors();

  private static List<byte[]> loadVectors() {
    List<byte[]> out = new ArrayList<>();
    String dir = System.getProperty("shared.vectors");
    if (dir != null && Files.isDirectory(Path.of(dir))) {
      try (var list = Files.list(Path.of(dir))) {
        for (Path p : list.filter(p -> p.toString().endsWith(".bin")).sorted().toList()) {
          out.add(Files.readAllBytes(p));
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    // the same shapes built here, so the property holds its ground without the shared dir
    out.add(new ForkServerRequest(1, List.of("/usr/local/bin/uwsgi", "--ini", "app1.ini")).encode());
    out.add(new ForkServerRequest(7, List.of("/usr/local/bin/uwsgi", "--ini", "emperor://app2.ini")).encode());
    out.add(PidResponse.of(4242).encode());
    out.add(ConfigPacket.of("[uwsgi]\nhttp-socket = 127.0.0.1:8081\nprocesses = 2\n").encode());
    return out;
  }

  private static void decodeAll(byte[] input) {
    for (Decoder d : DECODERS) {
      try {
        d.decode(input.clone());
      } catch (MalformedPacketException expected) {
        // the one failure a decoder may report
      }
      // anything else (IndexOutOfBounds, BufferUnderflow, IllegalArgument, NumberFormat...) fails the property
    }
  }

  @Property(tries = 3000)
  void randomBytesOnlyEverFailAsMalformed(@ForAll @Size(max = 300) byte[] input) {
    decodeAll(input);
  }

  @Property(tries = 1000)
  void randomHeadersOverRandomBodiesOnlyEverFailAsMalformed(@ForAll @IntRange(max = 255) int m1,
      @ForAll @IntRange(max = 65535) int pktsize, @ForAll @IntRange(max = 255) int m2,
      @ForAll @Size(max = 400) byte[] body) {
    ByteBuffer b = ByteBuffer.allocate(4 + body.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) m1).putShort((short) pktsize).put((byte) m2).put(body);
    decodeAll(b.array());
  }

  @Provide
  Arbitrary<byte[]> mutatedVectors() {
    return Combinators.combine(Arbitraries.of(VECTORS), Arbitraries.longs(), Arbitraries.integers().between(1, 6))
        .as((vector, seed, rounds) -> mutate(vector, new Random(seed), rounds));
  }

  /** Mutations in the shapes the issue names; several may stack. */
  static byte[] mutate(byte[] vector, Random rnd, int rounds) {
    byte[] b = vector.clone();
    for (int i = 0; i < rounds; i++) {
      switch (rnd.nextInt(9)) {
        case 0 -> b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length + 1)); // truncated
        case 1 -> { // oversized: trailing garbage
          byte[] more = new byte[1 + rnd.nextInt(64)];
          rnd.nextBytes(more);
          byte[] c = java.util.Arrays.copyOf(b, b.length + more.length);
          System.arraycopy(more, 0, c, b.length, more.length);
          b = c;
        }
        case 2 -> { // wrong modifier1 / modifier2
          if (b.length > 3) {
            b[rnd.nextBoolean() ? 0 : 3] = (byte) rnd.nextInt(256);
          }
        }
        case 3 -> { // pktsize lies
          if (b.length > 2) {
            int size = rnd.nextBoolean() ? rnd.nextInt(65536) : Math.max(0, b.length - 4 + rnd.nextInt(5) - 2);
            b[1] = (byte) size;
            b[2] = (byte) (size >> 8);
          }
        }
        case 4 -> { // an item length in the body overruns (or underruns) what follows
          if (b.length > 6) {
            int at = 4 + rnd.nextInt(b.length - 5);
            int len = rnd.nextBoolean() ? 0xFFFF : rnd.nextInt(b.length + 8);
            b[at] = (byte) len;
            b[at + 1] = (byte) (len >> 8);
          }
        }
        case 5 -> { // a flipped byte anywhere
          if (b.length > 0) {
            b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
          }
        }
        case 6 -> { // body cut, header fixed up to match: the cut falls inside an item
          if (b.length > 4) {
            int size = rnd.nextInt(b.length - 4 + 1);
            b = java.util.Arrays.copyOf(b, 4 + size);
            b[1] = (byte) size;
            b[2] = (byte) (size >> 8);
          }
        }
        case 7 -> { // invalid UTF-8 / NUL / non-digit inside the body
          if (b.length > 4) {
            b[4 + rnd.nextInt(b.length - 4)] = (byte) new int[] {0x00, 0x80, 0xC3, 0xFF, '-', '0', ' '}[rnd.nextInt(7)];
          }
        }
        default -> { // a byte removed from the middle
          if (b.length > 1) {
            int at = rnd.nextInt(b.length);
            byte[] c = new byte[b.length - 1];
            System.arraycopy(b, 0, c, 0, at);
            System.arraycopy(b, at + 1, c, at, b.length - at - 1);
            b = c;
          }
        }
      }
    }
    return b;
  }

  @Property(tries = 5000)
  void mutatedVectorsOnlyEverFailAsMalformed(@ForAll("mutatedVectors") byte[] input) throws Exception {
    decodeAll(input);
    // whatever still decodes re-encodes to exactly the same bytes (decoding is strict)
    UwsgiPacket p;
    try {
      p = UwsgiPacket.decode(input);
    } catch (MalformedPacketException e) {
      return;
    }
    assertArrayEquals(input, p.encode());
    try {
      List<byte[]> items = UwsgiArray.decode(p.body());
      assertArrayEquals(p.body(), UwsgiArray.encode(items));
    } catch (MalformedPacketException e) {
      // not an array
    }
    try {
      Map<String, String> once = UwsgiDict.decode(p.body());
      assertEquals(once, UwsgiDict.decode(UwsgiDict.encode(once)));
    } catch (MalformedPacketException e) {
      // not a dict
    }
  }

  @Provide
  Arbitrary<String> text() {
    // no lone surrogates: those are not representable in UTF-8 and could not round-trip
    return Arbitraries.strings().withCharRange('\u0000', '\uD7FF').withCharRange('\uE000', '\uFFFD').ofMaxLength(120);
  }

  @Property(tries = 1000)
  void forkServerRequestsRoundTrip(@ForAll @IntRange(min = 0, max = 3) int extra,
      @ForAll("text") @net.jqwik.api.constraints.NotEmpty String binary,
      @ForAll @Size(max = 30) List<@From("text") String> args) throws Exception {
    int mask = 1 | (extra << 1);
    List<String> argv = new ArrayList<>();
    argv.add(binary);
    argv.addAll(args);
    ForkServerRequest r = new ForkServerRequest(mask, argv);
    byte[] wire = r.encode();
    assertEquals(r, ForkServerRequest.decode(wire));
    assertArrayEquals(wire, ForkServerRequest.decode(wire).encode());
  }

  @Property(tries = 1000)
  void dictsAndPidResponsesRoundTrip(@ForAll @Size(max = 20) Map<@From("text") String, @From("text") String> dict,
      @ForAll @IntRange(min = 1) int pid) throws Exception {
    Map<String, String> d = new LinkedHashMap<>(dict);
    assertEquals(d, UwsgiDict.decode(UwsgiDict.encode(d)));
    d.put(PidResponse.PID_KEY, Integer.toString(pid));
    PidResponse r = new PidResponse(d);
    PidResponse back = PidResponse.decode(r.encode());
    assertEquals(r.dict(), back.dict());
    assertEquals(pid, back.pid().orElseThrow());
  }

  @Property(tries = 500)
  void packetsArraysAndConfigsRoundTrip(@ForAll @IntRange(max = 255) int m1, @ForAll @IntRange(max = 255) int m2,
      @ForAll @Size(max = 2000) byte[] body, @ForAll @Size(max = 40) List<@Size(max = 100) byte[]> items,
      @ForAll("text") String config) throws Exception {
    UwsgiPacket p = new UwsgiPacket(m1, m2, body);
    assertEquals(p, UwsgiPacket.decode(p.encode()));
    List<byte[]> back = UwsgiArray.decode(UwsgiArray.encode(items));
    assertEquals(items.size(), back.size());
    for (int i = 0; i < items.size(); i++) {
      assertArrayEquals(items.get(i), back.get(i));
    }
    ConfigPacket c = ConfigPacket.of(config);
    assertEquals(c, ConfigPacket.decode(c.encode()));
    assertEquals(config, ConfigPacket.decode(c.encode()).textAsString());
  }
}
