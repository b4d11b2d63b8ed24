package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.VassalSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SpecAndAddressTest {
  @Test
  void addressesAreTcpWithAColonUnixOtherwise() {
    ListenAddress tcp = ListenAddress.parse("127.0.0.1:8080");
    assertTrue(tcp.isTcp());
    assertEquals(Optional.of("127.0.0.1"), tcp.host());
    assertEquals(8080, tcp.port());
    assertEquals(Optional.of(""), ListenAddress.parse(":81").host());
    assertEquals(Optional.of("::1"), ListenAddress.parse("[::1]:82").host());
    ListenAddress unix = ListenAddress.parse("/run/app.sock");
    assertEquals(Optional.of(Path.of("/run/app.sock")), unix.unixPath());
    assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse("host:http"));
    assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse("host:70000"));
    assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse(" "));
  }

  @Test
  void specsNameAndFlagTheirConfigAsUwsgiDoes() {
    VassalSpec f = VassalSpec.ofFile(Path.of("/etc/v/app.yaml"));
    assertEquals("app.yaml", f.name());
    assertEquals("--yaml", f.configFlag());
    assertEquals("/etc/v/app.yaml", f.configArgument());
    VassalSpec t = VassalSpec.ofText("shop.json", "{}");
    assertEquals("--json", t.configFlag());
    assertEquals("emperor://shop.json", t.configArgument());
    assertEquals(t, VassalSpec.ofText("shop.json", "{}"));
    assertNotEquals(t, VassalSpec.ofText("shop.json", "{ }"));
    for (String bad : List.of("x.txt", "a/b.ini", "", "x".repeat(300) + ".ini")) {
      assertThrows(IllegalArgumentException.class, () -> VassalSpec.ofText(bad, ""), bad);
    }
    assertThrows(IllegalArgumentException.class, () -> VassalSpec.ofText("big.ini", "x".repeat(70_000)));
  }

  @Test
  void theBlacklistThrottleGrowsByItsStepUpToTheMaximum() {
    Blacklist b = new Blacklist(Duration.ofMillis(1000), Duration.ofMillis(2500));
    assertEquals(List.of(1000L, 2000L, 2500L, 2500L), List.of(b.add("x").throttle().toMillis(),
        b.add("x").throttle().toMillis(), b.add("x").throttle().toMillis(), b.add("x").throttle().toMillis()));
    assertEquals(4, b.get("x").orElseThrow().attempt());
    assertTrue(b.remove("x"));
    assertEquals(1, b.add("x").attempt(), "a fresh start after loyalty");
  }
}
