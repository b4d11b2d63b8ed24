package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.natives.Epoll;
import io.psgivassal.emperor.natives.NativeException;
import io.psgivassal.emperor.natives.UnixSockets;
import java.time.Duration;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a vassal's Emperor pipe (PROTOCOL.md §4): each byte updates the vassal's flags and
 * state, fires its event, and hands what needs a decision (idle, config request, EOF, ...) to
 * the Supervisor. Runs on the event loop thread.
 */
final class PipeMessages {
  private static final Logger log = LoggerFactory.getLogger(PipeMessages.class);

  static final int READY = 1;
  static final int CONFIG_REQUEST = 2;
  static final int ACCEPTING = 5;
  static final int LOYAL = 17;
  static final int STOP_ME = 22;
  static final int HEARTBEAT = 26;
  static final int BROODLORD = 30;

  /** What the messages lead to, decided elsewhere. */
  interface Decisions {
    /** 1 arrived (flags already set). */
    void ready(Vassal v);

    /** 5 arrived for the first time in this process (flags already set). */
    void accepting(Vassal v);

    /** 17 arrived for the first time in this process. */
    void loyal(Vassal v);

    /** 22: it is idle. */
    void idle(Vassal v);

    /** 2: it wants its config again. */
    void configRequested(Vassal v);

    /** EOF (or a broken pipe): it is going away. */
    void pipeClosed(Vassal v, VassalInstance p);
  }

  private final EventLoop loop;
  private final java.util.function.BiConsumer<Vassal, VassalEvent> fire;
  private final Duration heartbeat;
  private final Decisions decisions;
  private final Runnable changed;
  private final byte[] buffer = new byte[256];

  /** @param fire delivers an event to the listeners (after the snapshot shows it) */
  PipeMessages(EventLoop loop, java.util.function.BiConsumer<Vassal, VassalEvent> fire, Duration heartbeat,
      Decisions decisions, Runnable changed) {
    this.loop = loop;
    this.fire = fire;
    this.heartbeat = heartbeat;
    this.decisions = decisions;
    this.changed = changed;
  }

  /** Starts reading {@code p}'s pipe; the registration ends when the instance closes its pipe. */
  void watch(Vassal v, VassalInstance p) {
    loop.register(p.pipeFd(), Epoll.EPOLLIN | Epoll.EPOLLRDHUP, events -> read(v, p));
  }

  private void read(Vassal v, VassalInstance p) {
    while (p.hasPipe()) {
      int n;
      try {
        n = UnixSockets.recv(p.pipeFd(), buffer);
      } catch (NativeException e) {
        log.debug("vassal {}: Emperor pipe: {}", v.label(), e.getMessage());
        n = 0;
      }
      if (n == UnixSockets.WOULD_BLOCK) {
        return;
      }
      if (n == 0) {
        decisions.pipeClosed(v, p);
        return;
      }
      for (int i = 0; i < n && v.proc == p; i++) {
        onMessage(v, buffer[i] & 0xFF);
      }
    }
  }

  private void onMessage(Vassal v, int b) {
    Instant now = Instant.now();
    switch (b) {
      case READY -> {
        boolean first = v.reportedReady(now);
        decisions.ready(v);
        progress(v, VassalState.READY, first ? VassalEvent.Type.READY : null);
      }
      case ACCEPTING -> {
        boolean first = v.reportedAccepting(now);
        progress(v, VassalState.ACCEPTING, first ? VassalEvent.Type.ACCEPTING : null);
        if (first) {
          decisions.accepting(v);
        }
      }
      case LOYAL -> {
        boolean first = v.reportedLoyal(now);
        if (first) {
          decisions.loyal(v);
        }
        progress(v, VassalState.LOYAL, first ? VassalEvent.Type.LOYAL : null);
      }
      case HEARTBEAT -> {
        if (v.heartbeat(now, System.nanoTime())) {
          log.info("vassal {} sends heartbeats: it is killed if it is silent for {}", v.label(),
              Supervisor.human(heartbeat));
        }
        changed.run();
      }
      case STOP_ME -> decisions.idle(v);
      case CONFIG_REQUEST -> decisions.configRequested(v);
      case BROODLORD -> log.info("vassal {} asked for a zerg; broodlord mode is not supported", v.label());
      default -> log.warn("vassal {} sent unknown Emperor-pipe byte {}", v.label(), b);
    }
  }

  /** States only move forward; a repeated or late message updates the flags alone. */
  private void progress(Vassal v, VassalState next, VassalEvent.Type event) {
    if (v.progressTo(next)) {
      String where = next.ordinal() >= VassalState.ACCEPTING.ordinal()
          ? v.httpUrl.map(u -> " on " + u).orElse(v.onDemandSocket != null ? " on " + v.onDemandSocket : "") : "";
      log.info("vassal {} -> {}{}", v.label(), next, where);
    }
    changed.run();
    if (event != null) {
      fire.accept(v, VassalEvents.of(event, v, ""));
    }
  }
}
