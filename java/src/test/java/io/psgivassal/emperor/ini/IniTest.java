package io.psgivassal.emperor.ini;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class IniTest {
  private static final String TEXT = "; top comment\r\n"
      + "[uwsgi]\r\n"
      + "http-socket = 127.0.0.1:9090 \r\n"
      + "socket=/run/a.sock\n"
      + "  # indented comment\n"
      + "http-socket = :9091\n"
      + "no equals sign here\n"
      + "= no key\n"
      + "\n"
      + "[ emperor ]\n"
      + "team = blue\n"
      + "team = second\n"
      + "fork-server = /run/fs.sock\n";

  @Test
  void sectionsKeepEveryPairInFileOrder() {
    Ini ini = Ini.parse(TEXT);
    assertEquals(List.of(Map.entry("http-socket", "127.0.0.1:9090"), Map.entry("socket", "/run/a.sock"),
        Map.entry("http-socket", ":9091")), ini.section("uwsgi"));
    assertEquals(List.of(Map.entry("team", "blue"), Map.entry("team", "second"), Map.entry("fork-server", "/run/fs.sock")),
        ini.section("emperor"));
    assertEquals(List.of(), ini.section("missing"));
  }

  @Test
  void theFirstValueOfAKeyWinsAsInUwsgi() {
    Ini ini = Ini.parse(TEXT);
    assertEquals(Optional.of("blue"), ini.first("emperor", "team"));
    assertEquals(Optional.of("127.0.0.1:9090"), ini.first("uwsgi", "http-socket"));
    assertEquals(Optional.empty(), ini.first("uwsgi", "team"), "a key of another section");
    assertEquals(Optional.empty(), Ini.parse("").first("uwsgi", "socket"));
  }
}
