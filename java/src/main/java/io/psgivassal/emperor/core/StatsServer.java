package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.EmperorStatus;
import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.FileDescriptors;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.UnixSockets;
import io.psgivassal.emperor.stats.StatsJson;
import java.io.Closeable;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.function.IntUnaryOperator;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * uWSGI's {@code --emperor-stats}: every connection gets one JSON document, then the Emperor
 * closes it. Served by the event loop itself: accepts and writes are non-blocking, a document
 * larger than the socket buffer is finished when the socket is writable again, and a client that
 * does not read is dropped after a timeout. After the document the Emperor shuts its side down
 * and closes once the client has closed too, so whatever the client sent (an HTTP request, say)
 * cannot turn the close into a reset that destroys the document's tail.
 *
 * <p>Against a flood or a host out of descriptors: at most {@link #MAX_CLIENTS} connections are
 * open at once (each holds a rendered document), the others wait in the listen backlog; and when
 * accept fails (EMFILE, say, which leaves the connection queued, so the level-triggered listener
 * would fire again at once) the listener leaves the loop and comes back after a growing delay,
 * with one warning for the whole episode and one line when accepting works again.
 */
final class StatsServer implements Closeable {
  private static final Logger log = LoggerFactory.getLogger(StatsServer.class);
  private static final long CLIENT_TIMEOUT_MILLIS = 10_000;
  /** Stats clients served at once; uWSGI serves one at a time, blocking, so any client code copes with waiting. */
  static final int MAX_CLIENTS = 16;
  static final Duration ACCEPT_RETRY_MIN = Duration.ofMillis(25);
  static final Duration ACCEPT_RETRY_MAX = Duration.ofSeconds(1);

  private final EventLoop loop;
  private final BoundSocket socket;
  private final Supplier<EmperorStatus> status;
  /** The TCP port bound (-1 for a UNIX socket), read once at bind: see {@link #port()}. */
  private final int port;
  /** Written on the loop thread, read by {@link #port()} from any thread. */
  private volatile boolean closed;
  private final Map<Integer, Client> clients = new HashMap<>();
  private final byte[] sink = new byte[4096];
  /** accept4 on the listener: a connection, {@link UnixSockets#WOULD_BLOCK}, or a NativeException. */
  private final IntUnaryOperator acceptor;
  private final Backoff acceptRetry = new Backoff(ACCEPT_RETRY_MIN, ACCEPT_RETRY_MAX);
  /** Whether the listener is on the loop; off while at {@link #MAX_CLIENTS} and while backing off. */
  private boolean listening;
  private EventLoop.Timer retryTimer;
  /** Failed accepts since the last one that worked (0: accepting normally). */
  private int failedAccepts;

  private final class Client {
    final int fd;
    final byte[] doc;
    int off;
    boolean registered;
    final EventLoop.Timer timeout;

    Client(int fd, byte[] doc) {
      this.fd = fd;
      this.doc = doc;
      this.timeout = loop.schedule(CLIENT_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS, () -> drop(this, "timed out"));
    }
  }

  /** @throws IllegalArgumentException naming the address, when it cannot be bound */
  StatsServer(ListenAddress address, EventLoop loop, Supplier<EmperorStatus> status) {
    this(address, loop, status, UnixSockets::acceptNonBlocking);
  }

  /** With the accept call given: tests make it fail as a host out of descriptors would. */
  StatsServer(ListenAddress address, EventLoop loop, Supplier<EmperorStatus> status, IntUnaryOperator acceptor) {
    this.acceptor = acceptor;
    this.loop = loop;
    this.status = status;
    this.socket = BoundSocket.bind(address, true, false);
    this.port = address.isTcp() ? socket.localPort() : -1;
  }

  /** Starts accepting; on the loop thread. */
  void start() {
    listen();
    log.info("Emperor stats server on {}", describe());
  }

  private void listen() {
    if (!listening && !closed) {
      loop.register(socket.fd(), Epoll.EPOLLIN, events -> accept());
      listening = true;
    }
  }

  /** Connections that arrive meanwhile wait in the backlog (or are refused once it is full). */
  private void stopListening() {
    if (listening) {
      loop.unregister(socket.fd());
      listening = false;
    }
  }

  String describe() {
    return port >= 0 ? socket.address().host().orElse("") + ":" + port : socket.address().toString();
  }

  /**
   * The TCP port actually bound (for port 0); empty for a UNIX socket and once closed. It is never
   * asked of the descriptor after bind: once closed, that number may already be another socket's.
   */
  OptionalInt port() {
    return port >= 0 && !closed ? OptionalInt.of(port) : OptionalInt.empty();
  }

  private void accept() {
    while (clients.size() < MAX_CLIENTS) {
      int fd;
      try {
        fd = acceptor.applyAsInt(socket.fd());
      } catch (NativeException e) {
        acceptFailed(e);
        return;
      }
      if (failedAccepts > 0) {
        log.info("stats server {}: accepting again after {} failed attempt(s)", describe(), failedAccepts);
        failedAccepts = 0;
        acceptRetry.reset();
      }
      if (fd == UnixSockets.WOULD_BLOCK) {
        return;
      }
      Client c = new Client(fd, StatsJson.render(status.get()).getBytes(StandardCharsets.UTF_8));
      clients.put(fd, c);
      write(c);
    }
    stopListening(); // full: drop() listens again
  }

  /**
   * The failed connection is still queued, so a level-triggered listener would fire again at once,
   * for as long as the cause lasts: leave the loop, and try again later.
   */
  private void acceptFailed(NativeException e) {
    long delay = acceptRetry.nextDelayMillis();
    if (failedAccepts++ == 0) {
      log.warn("stats server {}: {}; not accepting for now, trying again in {} ms, then less and less often (at least"
          + " every {} ms); said once until it works again", describe(), e.getMessage(), delay, ACCEPT_RETRY_MAX.toMillis());
    }
    stopListening();
    retryTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> {
      retryTimer = null;
      listen();
    });
  }

  private void write(Client c) {
    try {
      while (c.off < c.doc.length) {
        int n = UnixSockets.sendNonBlocking(c.fd, c.doc, c.off);
        if (n == UnixSockets.WOULD_BLOCK) {
          watch(c, Epoll.EPOLLOUT, () -> write(c));
          return;
        }
        c.off += n;
      }
    } catch (NativeException e) {
      drop(c, e.getMessage()); // the client went away
      return;
    }
    UnixSockets.shutdownOutput(c.fd);
    watch(c, Epoll.EPOLLIN | Epoll.EPOLLRDHUP, () -> drain(c));
    drain(c);
  }

  /** Discards what the client sends until it closes. */
  private void drain(Client c) {
    while (clients.get(c.fd) == c) {
      int n;
      try {
        n = UnixSockets.recv(c.fd, sink);
      } catch (NativeException e) {
        n = 0;
      }
      if (n == UnixSockets.WOULD_BLOCK) {
        return;
      }
      if (n == 0) {
        drop(c, null);
      }
    }
  }

  private void watch(Client c, int events, Runnable r) {
    if (c.registered) {
      loop.unregister(c.fd);
    }
    loop.register(c.fd, events, ev -> r.run());
    c.registered = true;
  }

  private void drop(Client c, String why) {
    if (clients.remove(c.fd) != c) {
      return;
    }
    c.timeout.cancel();
    if (c.registered) {
      loop.unregister(c.fd);
    }
    FileDescriptors.closeQuietly(c.fd);
    if (why != null) {
      log.debug("stats client dropped: {}", why);
    }
    if (retryTimer == null) {
      listen(); // a place is free (and no accept failure is being waited out)
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Client c : List.copyOf(clients.values())) {
      drop(c, null);
    }
    if (retryTimer != null) {
      retryTimer.cancel();
      retryTimer = null;
    }
    stopListening();
    socket.close();
  }
}
