package io.psgivassal.emperor.protocol;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;

/** Length-prefixed items shared by the array and dict encodings. */
final class Bodies {
  private Bodies() {}

  static void putItem(ByteArrayOutputStream out, byte[] item, String what) {
    if (item.length > UwsgiPacket.MAX_BODY) {
      throw new IllegalArgumentException(what + " is " + item.length + " bytes, more than a u16 length can say");
    }
    out.write(item.length & 0xFF);
    out.write(item.length >>> 8);
    out.write(item, 0, item.length);
  }

  static byte[] checkedBody(ByteArrayOutputStream out) {
    if (out.size() > UwsgiPacket.MAX_BODY) {
      throw new IllegalArgumentException("encoded body is " + out.size() + " bytes, at most " + UwsgiPacket.MAX_BODY + " fit in a uwsgi packet");
    }
    return out.toByteArray();
  }

  /** Walks a body item by item, refusing any item that does not fit in what is left. */
  static final class Reader {
    private final byte[] body;
    private int pos;

    Reader(byte[] body) {
      this.body = body;
    }

    boolean hasMore() {
      return pos < body.length;
    }

    byte[] item(String what) throws MalformedPacketException {
      int left = body.length - pos;
      if (left < 2) {
        throw new MalformedPacketException(what + " at offset " + pos + ": only " + left
            + " byte left for its 2-byte length in the " + body.length + "-byte body");
      }
      int len = (body[pos] & 0xFF) | (body[pos + 1] & 0xFF) << 8;
      if (len > left - 2) {
        throw new MalformedPacketException(what + " at offset " + pos + " declares " + len
            + " bytes but only " + (left - 2) + " remain in the " + body.length + "-byte body");
      }
      byte[] out = Arrays.copyOfRange(body, pos + 2, pos + 2 + len);
      pos += 2 + len;
      return out;
    }
  }
}
