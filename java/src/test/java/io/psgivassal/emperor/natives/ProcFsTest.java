package io.psgivassal.emperor.natives;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** /proc reads of real processes. */
class ProcFsTest {
  @Test
  void aProcessNameCutInsideAUtf8CharacterIsStillReadable() throws Exception {
    // Perl sets the kernel's comm with $0; comm keeps 15 bytes, cutting the two-byte "é" in half
    Process p = new ProcessBuilder("perl", "-e", "$0 = qq{abcdefghijklmn\\x{c3}\\x{a9}}; sleep 30").start();
    try {
      int pid = (int) p.pid();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      byte[] comm;
      do {
        Thread.sleep(20);
        comm = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/" + pid + "/comm"));
      } while (comm.length != 16 && System.nanoTime() < deadline);
      assertEquals((byte) 0xc3, comm[14], "the name really ends in half a character: "
          + new String(comm, StandardCharsets.ISO_8859_1));
      ProcFs.Stat st = ProcFs.stat(pid).orElseThrow(() -> new AssertionError("stat of pid " + pid + " not read"));
      assertEquals(pid, st.pid());
      assertEquals(ProcessHandle.current().pid(), st.ppid());
    } finally {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
