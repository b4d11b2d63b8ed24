package io.psgivassal.emperor.protocol;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A uwsgi packet: modifier1 (u8), pktsize (u16 LE), modifier2 (u8), then pktsize body bytes.
 * Decoding is strict: the input must hold exactly one packet.
 */
public final class UwsgiPacket {
  public static final int HEADER_SIZE = 4;
  public static final int MAX_BODY = 0xFFFF;

  private final int modifier1;
  private final int modifier2;
  private final byte[] body;

  public UwsgiPacket(int modifier1, int modifier2, byte[] body) {
    checkU8("modifier1", modifier1);
    checkU8("modifier2", modifier2);
    if (body.length > MAX_BODY) {
      throw new IllegalArgumentException("uwsgi packet body is " + body.length + " bytes, at most " + MAX_BODY + " fit in pktsize");
    }
    this.modifier1 = modifier1;
    this.modifier2 = modifier2;
    this.body = body.clone();
  }

  private static void checkU8(String what, int v) {
    if (v < 0 || v > 0xFF) {
      throw new IllegalArgumentException(what + " must be 0..255, got " + v);
    }
  }

  public int modifier1() {
    return modifier1;
  }

  public int modifier2() {
    return modifier2;
  }

  public byte[] body() {
    return body.clone();
  }

  public int bodyLength() {
    return body.length;
  }

  public byte[] encode() {
    ByteBuffer out = ByteBuffer.allocate(HEADER_SIZE + body.length).order(ByteOrder.LITTLE_ENDIAN);
    out.put((byte) modifier1).putShort((short) body.length).put((byte) modifier2).put(body);
    return out.array();
  }

  /** The pktsize announced by a header (the first 4 bytes of {@code header}). */
  public static int bodySize(byte[] header) {
    return (header[1] & 0xFF) | (header[2] & 0xFF) << 8;
  }

  public static UwsgiPacket decode(byte[] bytes) throws MalformedPacketException {
    return decode(ByteBuffer.wrap(bytes));
  }

  /** Decodes the buffer's remaining bytes, which must be exactly one packet; consumes them. */
  public static UwsgiPacket decode(ByteBuffer in) throws MalformedPacketException {
    ByteBuffer buf = in.slice().order(ByteOrder.LITTLE_ENDIAN);
    int total = buf.remaining();
    if (total < HEADER_SIZE) {
      throw new MalformedPacketException("uwsgi packet: " + total + " bytes, shorter than the 4-byte header");
    }
    int modifier1 = buf.get() & 0xFF;
    int pktsize = buf.getShort() & 0xFFFF;
    int modifier2 = buf.get() & 0xFF;
    int bodyBytes = total - HEADER_SIZE;
    if (bodyBytes < pktsize) {
      throw new MalformedPacketException("uwsgi packet: body is " + bodyBytes + " bytes but pktsize says " + pktsize);
    }
    if (bodyBytes > pktsize) {
      throw new MalformedPacketException("uwsgi packet: " + (bodyBytes - pktsize)
          + " bytes of trailing garbage after the " + pktsize + "-byte body");
    }
    byte[] body = new byte[pktsize];
    buf.get(body);
    in.position(in.position() + total);
    return new UwsgiPacket(modifier1, modifier2, body);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof UwsgiPacket p && p.modifier1 == modifier1 && p.modifier2 == modifier2 && Arrays.equals(p.body, body);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * modifier1 + modifier2) + Arrays.hashCode(body);
  }

  @Override
  public String toString() {
    return "UwsgiPacket[modifier1=" + modifier1 + ", modifier2=" + modifier2 + ", " + body.length + " body bytes]";
  }
}
