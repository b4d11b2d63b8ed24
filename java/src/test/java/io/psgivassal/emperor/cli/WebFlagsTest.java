package io.psgivassal.emperor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --emperor-web and --emperor-web-token-file: a value that cannot work is one clear line and exit 2. */
class WebFlagsTest {
  @TempDir Path tmp;
  private String err;

  private int run(String... flags) {
    String[] args = new String[flags.length + 4];
    args[0] = "--emperor";
    args[1] = tmp.toString();
    args[2] = "--binary-path";
    args[3] = "/bin/sh";
    System.arraycopy(flags, 0, args, 4, flags.length);
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int rc = Main.run(args, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        new PrintStream(e, true, StandardCharsets.UTF_8));
    err = e.toString(StandardCharsets.UTF_8);
    return rc;
  }

  @Test
  void badAddressesAndTokenFilesAreNamed() throws Exception {
    assertEquals(2, run("--emperor-web", "9191"));
    assertEquals("emperor: --emperor-web 9191: expected HOST:PORT, e.g. 127.0.0.1:9191\n", err);
    assertEquals(2, run("--emperor-web", "127.0.0.1:99999"));
    assertEquals("emperor: --emperor-web 127.0.0.1:99999: the port must be a number from 0 to 65535\n", err);
    assertEquals(2, run("--emperor-web", "no-such-host.invalid:9191"));
    assertEquals("emperor: --emperor-web no-such-host.invalid:9191: unknown host no-such-host.invalid\n", err);
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      String addr = "127.0.0.1:" + taken.getLocalPort();
      assertEquals(2, run("--emperor-web", addr));
      assertEquals(true, err.startsWith("emperor: --emperor-web " + addr + ": cannot listen there ("), err);
    }
    Path missing = tmp.resolve("no-token");
    assertEquals(2, run("--emperor-web", "127.0.0.1:0", "--emperor-web-token-file", missing.toString()));
    assertEquals(true, err.startsWith("emperor: --emperor-web-token-file " + missing + ": cannot read it"), err);
    Path empty = Files.writeString(tmp.resolve("empty-token"), "\n");
    assertEquals(2, run("--emperor-web", "127.0.0.1:0", "--emperor-web-token-file", empty.toString()));
    assertEquals("emperor: --emperor-web-token-file " + empty + ": expected one line with the token\n", err);
    assertEquals(2, run("--emperor-web-token-file", empty.toString()));
    assertEquals("emperor: --emperor-web-token-file needs --emperor-web HOST:PORT\n", err);
  }
}
