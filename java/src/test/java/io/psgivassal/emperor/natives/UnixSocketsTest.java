package io.psgivassal.emperor.natives;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UnixSocketsTest {
  @Test
  void cmsgLayoutMatchesX86_64() {
    assertEquals(8, UnixSockets.cmsgAlign(1));
    assertEquals(16, UnixSockets.cmsgAlign(12));
    assertEquals(20, UnixSockets.cmsgLen(4));
    assertEquals(24, UnixSockets.cmsgSpace(4));
    assertEquals(32, UnixSockets.cmsgSpace(12));
  }

  @Test
  void socketPairIsCloseOnExec() throws Exception {
    int[] sv = UnixSockets.socketPair();
    try {
      for (int fd : sv) {
        assertTrue(fdinfoFlags(fd) % 0x100000 >= 0x80000, "O_CLOEXEC on fd " + fd);
      }
    } finally {
      FileDescriptors.close(sv[0]);
      FileDescriptors.close(sv[1]);
    }
  }

  static int fdinfoFlags(int fd) throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
      if (line.startsWith("flags:")) {
        return Integer.parseInt(line.substring(6).trim(), 8);
      }
    }
    throw new AssertionError("no flags in fdinfo");
  }

  @Test
  void sendsThreeDescriptorsInOneMessageAndReceivesThemBack() throws Exception {
    int[] carrier = UnixSockets.socketPair();
    int[] a = UnixSockets.socketPair();
    int[] b = UnixSockets.socketPair();
    int[] c = UnixSockets.socketPair();
    try {
      byte[] payload = "hello".getBytes(StandardCharsets.US_ASCII);
      assertEquals(5, UnixSockets.sendWithFds(carrier[0], payload, new int[] {a[1], b[1], c[1]}));
      UnixSockets.Received got = UnixSockets.recvWithFds(carrier[1], 64, 8);
      assertArrayEquals(payload, got.data());
      assertEquals(3, got.fds().length);
      assertFalse(got.controlTruncated());
      // each received descriptor is a working copy of the one sent, in order
      int[][] pairs = {a, b, c};
      for (int i = 0; i < 3; i++) {
        UnixSockets.writeByte(got.fds()[i], 40 + i);
        assertEquals(40 + i, UnixSockets.readByte(pairs[i][0]));
        assertTrue(fdinfoFlags(got.fds()[i]) % 0x100000 >= 0x80000, "received fd is close-on-exec");
        FileDescriptors.close(got.fds()[i]);
      }
    } finally {
      for (int[] p : new int[][] {carrier, a, b, c}) {
        FileDescriptors.closeQuietly(p[0]);
        FileDescriptors.closeQuietly(p[1]);
      }
    }
  }

  @Test
  void nonBlockingRecvAndEof() {
    int[] sv = UnixSockets.socketPair();
    try {
      byte[] buf = new byte[4];
      assertEquals(UnixSockets.WOULD_BLOCK, UnixSockets.recv(sv[0], buf));
      assertTrue(UnixSockets.sendByte(sv[1], 17));
      assertEquals(1, UnixSockets.recv(sv[0], buf));
      assertEquals(17, buf[0]);
      FileDescriptors.close(sv[1]);
      sv[1] = -1;
      assertEquals(0, UnixSockets.recv(sv[0], buf));
      NativeException e = assertThrows(NativeException.class, () -> UnixSockets.sendByte(sv[0], 0));
      assertEquals(LibC.EPIPE, e.errno());
    } finally {
      FileDescriptors.closeQuietly(sv[0]);
      FileDescriptors.closeQuietly(sv[1]);
    }
  }

  @Test
  void connectToMissingSocketNamesCallAndErrno(@TempDir Path dir) {
    NativeException e = assertThrows(NativeException.class, () -> UnixSockets.connect(dir.resolve("nope.sock")));
    assertEquals(LibC.ENOENT, e.errno());
    assertTrue(e.getMessage().startsWith("connect(" + dir.resolve("nope.sock") + "): No such file or directory (errno 2)"),
        e.getMessage());
  }

  @Test
  void connectsToAListeningSocket(@TempDir Path dir) throws Exception {
    Path path = dir.resolve("s.sock");
    try (var server = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      server.bind(java.net.UnixDomainSocketAddress.of(path));
      int fd = UnixSockets.connect(path);
      try (var peer = server.accept()) {
        assertEquals(3, UnixSockets.sendWithFds(fd, new byte[] {1, 2, 3}, new int[0]));
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(3);
        while (bb.hasRemaining()) {
          peer.read(bb);
        }
        assertArrayEquals(new byte[] {1, 2, 3}, bb.array());
      } finally {
        FileDescriptors.close(fd);
      }
    }
  }
}
