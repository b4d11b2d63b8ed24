package io.psgivassal.emperor.core;

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

  /** Binds the socket if needed and waits for a connection: the vassal is ON_DEMAND. */
  void open(Vassal v) {
    v.waitingOnSocket();
    changed.run();
    if (v.onDemandSocket == null) {
      try {
        v.onDemandSocket = BoundSocket.bind(v.spec.onDemand().orElseThrow(), false, true);
      } catch (IllegalArgumentException e) {
        long delay = v.attemptFailed();
        if (v.failureWorthLogging()) {
          log.error("vassal {}: cannot bind its on-demand {}; retrying in {} ms", v.label(), e.getMessage(), delay);
        }
        v.waitTimer = loop.schedule(delay, TimeUnit.MILLISECONDS, () -> {
          v.waitTimer = null;
          open(v);
        });
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

  /** Stops watching; the socket stays bound (a process serves it, or is about to). */
  void pause(Vassal v) {
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
