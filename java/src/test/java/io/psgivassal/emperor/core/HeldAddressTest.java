package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.api.VassalSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Which socket of a config the Emperor holds across generations, and why not when it does not. */
class HeldAddressTest {
  private static Vassal vassal(String ini) {
    return new Vassal("test", VassalSpec.ofText("app.ini", ini), Instant.EPOCH, Duration.ofMillis(100),
        Duration.ofSeconds(2));
  }

  @Test
  void oneTcpOrAbsoluteUnixSocketIsHeld() {
    Vassal tcp = vassal("[uwsgi]\nhttp-socket = 127.0.0.1:9090\n");
    assertEquals(Optional.of(ListenAddress.parse("127.0.0.1:9090")), tcp.heldAddress);
    assertNull(tcp.unheldReason);
    assertEquals(Optional.of(ListenAddress.parse("/run/app.sock")), vassal("[uwsgi]\nsocket = /run/app.sock\n").heldAddress);
    assertEquals(Optional.of(ListenAddress.parse(":8080")), vassal("[uwsgi]\nhttp-socket = :8080\n").heldAddress);
  }

  @Test
  void aBaseHoldsItsForkServerSocketPrivately() {
    Vassal base = vassal("[uwsgi]\nearly-psgi = /srv/app.psgi\nfork-server = /run/fork.sock\n");
    assertEquals(Optional.of(ListenAddress.unix(Path.of("/run/fork.sock"))), base.heldAddress);
    assertEquals("rw-------", base.heldUnixMode);
  }

  @Test
  void whatCannotBeHeldSaysWhy() {
    assertTrue(vassal("[uwsgi]\nhttp-socket = :80\nsocket = :81\n").unheldReason.contains("2 sockets"));
    assertTrue(vassal("[uwsgi]\nhttp-socket = localhost:80\n").unheldReason.contains("names a host"));
    assertTrue(vassal("[uwsgi]\nsocket = run/app.sock\n").unheldReason.contains("relative"));
    assertTrue(vassal("[uwsgi]\nearly-psgi = x\nfork-server = /run/f.sock\nhttp-socket = :80\n").unheldReason
        .contains("besides its fork server"));
    Vassal fd = vassal("[uwsgi]\nhttp-socket = fd://0\n");
    assertEquals(Optional.empty(), fd.heldAddress);
    assertNull(fd.unheldReason, "fd://0 is already an inherited socket: nothing to say");
    assertEquals(Optional.empty(), vassal("[uwsgi]\nplugins = psgi\n").heldAddress);
  }
}
