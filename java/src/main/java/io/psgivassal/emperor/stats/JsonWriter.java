package io.psgivassal.emperor.stats;

/**
 * A tiny streaming JSON writer: enough for the stats document, with RFC 8259 string escaping
 * (quotes, backslashes, every control character; non-ASCII stays UTF-8). Commas are placed by
 * the writer, so callers cannot produce uWSGI's trailing-comma slips.
 */
public final class JsonWriter {
  private final StringBuilder out = new StringBuilder(4096);
  /** Whether the current container already has an element (a comma goes before the next). */
  private final java.util.ArrayDeque<boolean[]> stack = new java.util.ArrayDeque<>();
  private boolean afterKey;

  public JsonWriter beginObject() {
    value();
    out.append('{');
    stack.push(new boolean[1]);
    return this;
  }

  public JsonWriter endObject() {
    stack.pop();
    out.append('}');
    return this;
  }

  public JsonWriter beginArray() {
    value();
    out.append('[');
    stack.push(new boolean[1]);
    return this;
  }

  public JsonWriter endArray() {
    stack.pop();
    out.append(']');
    return this;
  }

  public JsonWriter key(String k) {
    separator();
    string(k);
    out.append(':');
    afterKey = true;
    return this;
  }

  public JsonWriter value(String s) {
    value();
    string(s);
    return this;
  }

  public JsonWriter value(long n) {
    value();
    out.append(n);
    return this;
  }

  public JsonWriter value(boolean b) {
    value();
    out.append(b);
    return this;
  }

  public JsonWriter field(String k, String v) {
    return key(k).value(v);
  }

  public JsonWriter field(String k, long v) {
    return key(k).value(v);
  }

  public JsonWriter field(String k, boolean v) {
    return key(k).value(v);
  }

  private void value() {
    if (afterKey) {
      afterKey = false;
    } else {
      separator();
    }
  }

  private void separator() {
    boolean[] top = stack.peek();
    if (top != null) {
      if (top[0]) {
        out.append(',');
      }
      top[0] = true;
    }
  }

  private void string(String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }

  @Override
  public String toString() {
    return out.toString();
  }
}
