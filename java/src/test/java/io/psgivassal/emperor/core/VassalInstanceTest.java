package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.protocol.ConfigPacket;
import io.psgivassal.emperor.protocol.MalformedPacketException;
import io.psgivassal.emperor.protocol.UwsgiPacket;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A vassal process's descriptors on a loop driven by hand, with a socketpair for a vassal. */
class VassalInstanceTest {
  /** Config number {@code n}: 60 KB, so that a few fill the socket buffer. */
  private static ConfigPacket config(int n) {
    StringBuilder b = new StringBuilder("[uwsgi]\n; config ").append(n).append('\n');
    while (b.length() < 60_000) {
      b.append("; padding ").append(n).append(" ---------------------------------------------\n");
    }
    return ConfigPacket.of(b.toString());
  }

  /** Splits the stream into packets as a vassal reads it: a header, then the body it announces. */
  private static List<ConfigPacket> packets(byte[] stream) throws MalformedPacketException {
    List<ConfigPacket> out = new ArrayList<>();
    int off = 0;
    while (off < stream.length) {
      int end = off + UwsgiPacket.HEADER_SIZE + UwsgiPacket.bodySize(Arrays.copyOfRange(stream, off, off + 4));
      if (end > stream.length) {
        throw new MalformedPacketException("a packet cut short: " + (stream.length - off) + " bytes of " + (end - off));
      }
      out.add(ConfigPacket.decode(Arrays.copyOfRange(stream, off, end)));
      off = end;
    }
    return out;
  }

  @Test
  void configsPushedToAVassalThatDoesNotReadArriveAsWholePacketsTheNewestLast() throws Exception {
    int[] pair = UnixSockets.socketPair();
    List<String> errors = new ArrayList<>();
    List<ConfigPacket> pushed = new ArrayList<>();
    try (EventLoop loop = new EventLoop(8)) {
      VassalInstance p = new VassalInstance(0, -1, -1, pair[0], false);
      // eight 60 KB configs (a vassal that asks again and again) while it reads nothing: more than the socket holds
      for (int n = 1; n <= 8; n++) {
        pushed.add(config(n));
        p.pushConfig(pushed.get(n - 1), loop, errors::add);
      }
      // now it reads, and asks twice more along the way
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      byte[] buf = new byte[16 * 1024];
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      int quiet = 0;
      while (quiet < 20 && System.nanoTime() < deadline) {
        loop.runOnce(10);
        int n = UnixSockets.recv(pair[1], buf);
        if (n > 0) {
          got.write(buf, 0, n);
          quiet = 0;
          if (pushed.size() < 10 && got.size() > 100_000 * (pushed.size() - 7)) {
            pushed.add(config(pushed.size() + 1));
            p.pushConfig(pushed.get(pushed.size() - 1), loop, errors::add);
          }
        } else {
          quiet++;
        }
      }
      List<ConfigPacket> read = packets(got.toByteArray()); // whole packets, nothing spliced or cut short
      assertTrue(pushed.containsAll(read), "every packet read is a config pushed");
      List<Integer> order = read.stream().map(pushed::indexOf).toList();
      assertEquals(order.stream().sorted().distinct().toList(), order, "in the order pushed, none twice");
      assertEquals(pushed.get(9), read.get(read.size() - 1), "the newest config comes last");
      assertEquals(List.of(), errors);
      p.closeAll(loop);
      assertEquals(0, loop.registeredCount(), "the config pipe is off the loop");
    } finally {
      FileDescriptors.closeQuietly(pair[1]);
    }
  }
}
