package io.psgivassal.emperor.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The uwsgi "array" body: items of u16 LE length + bytes. */
public final class UwsgiArray {
  private UwsgiArray() {}

  public static byte[] encode(List<byte[]> items) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] item : items) {
      Bodies.putItem(out, item, "array item");
    }
    return Bodies.checkedBody(out);
  }

  public static byte[] encodeStrings(List<String> items) {
    List<byte[]> raw = new ArrayList<>(items.size());
    for (String s : items) {
      raw.add(s.getBytes(StandardCharsets.UTF_8));
    }
    return encode(raw);
  }

  public static List<byte[]> decode(byte[] body) throws MalformedPacketException {
    List<byte[]> items = new ArrayList<>();
    Bodies.Reader r = new Bodies.Reader(body);
    while (r.hasMore()) {
      items.add(r.item("array item " + items.size()));
    }
    return items;
  }

  public static List<String> decodeStrings(byte[] body) throws MalformedPacketException {
    List<String> out = new ArrayList<>();
    for (byte[] item : decode(body)) {
      out.add(new String(item, StandardCharsets.UTF_8));
    }
    return List.copyOf(out);
  }
}
