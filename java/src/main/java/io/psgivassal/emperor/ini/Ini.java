package io.psgivassal.emperor.ini;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A vassal's ini config, read the way uWSGI reads one: {@code [section]} headers, {@code key =
 * value} lines with key and value stripped, comments ({@code ;} {@code #}) and blank lines skipped,
 * repeated keys kept in order. The Emperor reads configs only for what it needs of them (the
 * [emperor] attributes, the [uwsgi] sockets): the vassal parses its own.
 */
public final class Ini {
  private record Line(String section, String key, String value) {}

  private final List<Line> lines;

  private Ini(List<Line> lines) {
    this.lines = List.copyOf(lines);
  }

  public static Ini parse(String text) {
    List<Line> out = new ArrayList<>();
    String section = "";
    for (String raw : text.split("\r?\n")) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith(";") || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("[") && line.endsWith("]")) {
        section = line.substring(1, line.length() - 1).strip();
        continue;
      }
      int eq = line.indexOf('=');
      if (eq > 0) {
        out.add(new Line(section, line.substring(0, eq).strip(), line.substring(eq + 1).strip()));
      }
    }
    return new Ini(out);
  }

  /** The section's key = value pairs, in file order, repeats included. */
  public List<Map.Entry<String, String>> section(String name) {
    return lines.stream().filter(l -> l.section().equals(name)).map(l -> Map.entry(l.key(), l.value())).toList();
  }

  /**
   * The [emperor] keys asked for in a config text, the way uWSGI collects vassal attributes
   * (uwsgi_emperor_ini_attrs): the first occurrence of a key wins.
   */
  public static Map<String, String> emperorAttributes(String text, Set<String> keys) {
    Map<String, String> out = new LinkedHashMap<>();
    if (keys.isEmpty()) {
      return out;
    }
    for (Map.Entry<String, String> e : parse(text).section("emperor")) {
      if (keys.contains(e.getKey())) {
        out.putIfAbsent(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  /** The first value of {@code key} in {@code section}: where uWSGI's attribute and option lookups stop. */
  public Optional<String> first(String section, String key) {
    return lines.stream().filter(l -> l.section().equals(section) && l.key().equals(key)).map(Line::value).findFirst();
  }
}
