package io.psgivassal.emperor.natives;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EpollEventFdTest {
  @Test
  void eventFdWakesEpollWithPackedEventData() throws Exception {
    try (Epoll ep = Epoll.create(8); EventFd ev = EventFd.create()) {
      long data = 0x1234_5678_9abc_def0L;
      ep.add(ev.fd(), Epoll.EPOLLIN, data);
      assertEquals(0, ep.await(0));
      Thread t = new Thread(() -> {
        ev.signal();
        ev.signal();
      });
      t.start();
      assertEquals(1, ep.await(5000));
      assertEquals(Epoll.EPOLLIN, ep.events(0) & Epoll.EPOLLIN);
      assertEquals(data, ep.data(0));
      t.join();
      assertEquals(2, ev.drain());
      assertEquals(0, ev.drain());
      assertEquals(0, ep.await(0));
      assertTrue(UnixSocketsTest.fdinfoFlags(ep.fd()) % 0x100000 >= 0x80000);
      assertTrue(UnixSocketsTest.fdinfoFlags(ev.fd()) % 0x100000 >= 0x80000);
    }
  }

  @Test
  void secondEventIsAtTwelveByteStride() {
    int[] a = UnixSockets.socketPair();
    int[] b = UnixSockets.socketPair();
    try (Epoll ep = Epoll.create(8)) {
      ep.add(a[0], Epoll.EPOLLIN, 111);
      ep.add(b[0], Epoll.EPOLLIN | Epoll.EPOLLRDHUP, 222);
      UnixSockets.writeByte(a[1], 1);
      FileDescriptors.close(b[1]);
      b[1] = -1;
      assertEquals(2, ep.await(1000));
      long sum = ep.data(0) + ep.data(1);
      assertEquals(333, sum);
      int hupIndex = ep.data(0) == 222 ? 0 : 1;
      assertTrue((ep.events(hupIndex) & Epoll.EPOLLRDHUP) != 0);
      ep.delete(a[0]);
    } finally {
      for (int fd : new int[] {a[0], a[1], b[0], b[1]}) {
        FileDescriptors.closeQuietly(fd);
      }
    }
  }

  @Test
  void subreaperAndProcStat() {
    Prctl.setChildSubreaper(true);
    assertTrue(Prctl.isChildSubreaper());
    int self = (int) ProcessHandle.current().pid();
    ProcFs.Stat st = ProcFs.stat(self).orElseThrow();
    assertEquals(FileDescriptors.ownSessionId(), st.session());
    ProcFs.Stat weird = ProcFs.parseStat("42 (a) b (c)) S 7 8 9 0 -1");
    assertEquals(42, weird.pid());
    assertEquals('S', weird.state());
    assertEquals(7, weird.ppid());
    assertEquals(9, weird.session());
  }
}
