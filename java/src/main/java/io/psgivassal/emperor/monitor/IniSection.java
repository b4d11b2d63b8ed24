package io.psgivassal.emperor.monitor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Reads the keys of one ini section the way uWSGI collects vassal attributes
 * (uwsgi_emperor_ini_attrs): only the {@code [emperor]} section, only the keys asked for, values
 * stripped; the first occurrence of a key wins, comments (; #) and blank lines are skipped.
 */
final class IniSection {
  private IniSection() {}

  static Map<String, String> read(String text, String section, Set<String> keys) {
    Map<String, String> out = new LinkedHashMap<>();
    if (keys.isEmpty()) {
      return out;
    }
    String current = "";
    for (String raw : text.split("\r?\n")) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith(";") || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("[") && line.endsWith("]")) {
        current = line.substring(1, line.length() - 1).strip();
        continue;
      }
      int eq = line.indexOf('=');
      if (current.equals(section) && eq > 0) {
        String key = line.substring(0, eq).strip();
        if (keys.contains(key)) {
          out.putIfAbsent(key, line.substring(eq + 1).strip());
        }
      }
    }
    return out;
  }
}
