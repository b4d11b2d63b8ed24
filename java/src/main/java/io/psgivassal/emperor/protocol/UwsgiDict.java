package io.psgivassal.emperor.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** The uwsgi "dict" body: pairs of (u16 LE length + key, u16 LE length + value), order kept. */
public final class UwsgiDict {
  private UwsgiDict() {}

  public static byte[] encode(Map<String, String> dict) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Map.Entry<String, String> e : dict.entrySet()) {
      Bodies.putItem(out, e.getKey().getBytes(StandardCharsets.UTF_8), "dict key");
      Bodies.putItem(out, e.getValue().getBytes(StandardCharsets.UTF_8), "dict value");
    }
    return Bodies.checkedBody(out);
  }

  /** Decodes a dict body in wire order; a repeated key keeps its last value, as in uWSGI. */
  public static Map<String, String> decode(byte[] body) throws MalformedPacketException {
    Map<String, String> out = new LinkedHashMap<>();
    Bodies.Reader r = new Bodies.Reader(body);
    int pair = 0;
    while (r.hasMore()) {
      String key = new String(r.item("dict key " + pair), StandardCharsets.UTF_8);
      if (!r.hasMore()) {
        throw new MalformedPacketException("dict key " + pair + " (\"" + key + "\") has no value: the body ends after it");
      }
      String value = new String(r.item("dict value " + pair), StandardCharsets.UTF_8);
      out.put(key, value);
      pair++;
    }
    return Collections.unmodifiableMap(out);
  }
}
