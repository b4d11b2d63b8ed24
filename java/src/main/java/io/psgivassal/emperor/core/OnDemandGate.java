package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.ListenAddress;
import io.psgivassal.emperor.natives.Epoll;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The socket of an on-demand vassal: bound once by the Emperor (close-on-exec, blocking, as the
 * vassal will inherit it), watched while no process runs, left alone (but kept open, so
 * connections wait in its backlog) while one does. A socket that cannot be bound yet (address in
 * use, say) is retried with the vassal's backoff. Runs on the event loop thread.
 */
final class OnDemandGate {
  private static final Logger log = LoggerFactory.getLogger(OnDemandGate.class);

  private final EventLoop loop;
  private final Consumer<Vassal> onConnection;
  private final Runnable changed;

  /** @param onConnection called (once per opening) when a connection waits on the socket */
  OnDemandGate(EventLoop loop, Consumer<Vassal> onConnection, Runnable changed) {
    this.loop = loop;
    this.onConnection = onConnection;
    this.changed = changed;
  }

  /**
   * Resolves host names of on-demand addresses: a slow resolver must not stall the loop. Daemon
   * threads, made as needed and gone when idle.
   */
  private static final java.util.concurrent.ExecutorService RESOLVERS = java.util.concurrent.Executors.newCachedThreadPool(
      new com.google.common.util.concurrent.ThreadFactoryBuilder().setNameFormat("emperor-resolver-%d").setDaemon(true).build());

  /**
   * Binds the socket if needed and waits for a connection: the vassal is ON_DEMAND. An address
   * naming a host is resolved off the loop first (again at each bind attempt), the bind itself
   * is done on the loop once the name is resolved.
   */
  void open(Vassal v) {
    v.waitingOnSocket();
    v.gateWanted = true;
    changed.run();
    if (v.onDemandSocket == null) {
      ListenAddress a = v.spec.onDemand().orElseThrow();
      java.net.InetAddress ip = null;
      if (Addresses.needsResolver(a)) {
        if (!a.equals(v.resolvedFor)) {
          resolveThenOpen(v, a);
          return;
        }
        ip = v.resolvedIp;
        v.resolvedFor = null; // a later bind attempt resolves afresh
      }
      try {
        v.onDemandSocket = BoundSocket.bind(a, ip, false, "rw-rw-rw-");
      } catch (IllegalArgumentException e) {
        failed(v, e.getMessage());
        return;
      }
      v.attemptSucceeded();
    }
    if (!v.watchingSocket) {
      loop.register(v.onDemandSocket.fd(), Epoll.EPOLLIN, events -> {
        pause(v);
        log.info("vassal {}: connection on {}: starting it", v.label(), v.onDemandSocket);
        onConnection.accept(v);
      });
      v.watchingSocket = true;
    }
    log.info("vassal {} -> ON_DEMAND: waiting for connections on {}", v.label(), v.onDemandSocket);
  }

  private void failed(Vassal v, String why) {
    long delay = v.attemptFailed();
    if (v.failureWorthLogging()) {
      log.error("vassal {}: cannot bind its on-demand {}; retrying in {} ms", v.label(), why, delay);
    }
    v.waitTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> {
      v.waitTimer = null;
      open(v);
    });
  }

  /** Resolves {@code a}'s host on a resolver thread, then binds on the loop if the gate is still wanted. */
  private void resolveThenOpen(Vassal v, ListenAddress a) {
    if (a.equals(v.resolving)) {
      return; // under way
    }
    v.resolving = a;
    RESOLVERS.execute(() -> {
      java.net.InetAddress ip = null;
      String error = null;
      try {
        ip = Addresses.inetAddress(a);
      } catch (RuntimeException e) {
        error = e.getMessage();
      }
      java.net.InetAddress resolved = ip;
      String why = error;
      loop.execute(() -> {
        if (a.equals(v.resolving)) {
          v.resolving = null;
        }
        if (!v.gateWanted || v.onDemandSocket != null || !v.spec.onDemand().equals(java.util.Optional.of(a))) {
          return; // stopped waiting, or its address changed, meanwhile
        }
        if (why != null) {
          failed(v, why);
          return;
        }
        v.resolvedFor = a;
        v.resolvedIp = resolved;
        open(v);
      });
    });
  }

  /** Stops watching; the socket stays bound (a process serves it, or is about to). */
  void pause(Vassal v) {
    v.gateWanted = false;
    if (v.watchingSocket) {
      loop.unregister(v.onDemandSocket.fd());
      v.watchingSocket = false;
    }
  }

  /** Closes the socket (and removes a UNIX socket file): the vassal is gone or changes address. */
  void close(Vassal v) {
    pause(v);
    if (v.onDemandSocket != null) {
      v.onDemandSocket.close();
      v.onDemandSocket = null;
    }
  }
}
