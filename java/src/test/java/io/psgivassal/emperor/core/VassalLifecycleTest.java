package io.psgivassal.emperor.core;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.VassalSpec;
import io.psgivassal.emperor.api.VassalState;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A vassal's life cycle without processes or an event loop: the transitions the Supervisor, the
 * pipe reader, the launcher and the on-demand gate call, in the orders they call them, and the
 * table that says which state changes exist. Instances carry made-up pids and no descriptors.
 */
class VassalLifecycleTest {
  private static final Path FORK_SERVER = Path.of("/run/vassals/fork.sock");
  private final Instant now = Instant.now();
  private int nextPid = 1000;

  private static Vassal vassal(VassalSpec spec) {
    return new Vassal("test", spec, Instant.EPOCH, Duration.ofMillis(100), Duration.ofSeconds(2));
  }

  private static Vassal plain() {
    return vassal(VassalSpec.ofText("app.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:9090\n")
        .withStart(new VassalSpec.Plain()));
  }

  /** What Launcher.launch and then Supervisor.started do: an attempt, then a process. */
  private VassalInstance start(Vassal v, boolean adopted) {
    v.startAttempt(new StartAttempt(adopted ? Optional.of(FORK_SERVER) : Optional.empty()));
    assertEquals(adopted ? VassalState.ADOPTING : VassalState.SPAWNING, v.state());
    VassalInstance p = new VassalInstance(nextPid++, -1, -1, -1, adopted);
    v.processStarted(p, now);
    return p;
  }

  /** A vassal whose first process has reported up to {@code last}. */
  private Vassal serving(boolean adopted, VassalState last) {
    Vassal v = plain();
    start(v, adopted);
    reportUpTo(v, last);
    return v;
  }

  /** What PipeMessages does with 1, 5 and 17. */
  private void reportUpTo(Vassal v, VassalState last) {
    assertTrue(v.reportedReady(now));
    assertTrue(v.progressTo(VassalState.READY));
    if (last == VassalState.READY) {
      return;
    }
    assertTrue(v.reportedAccepting(now));
    assertTrue(v.progressTo(VassalState.ACCEPTING));
    if (last == VassalState.ACCEPTING) {
      return;
    }
    assertTrue(v.reportedLoyal(now));
    assertTrue(v.progressTo(VassalState.LOYAL));
  }

  /** Which process is current and which generation serves meanwhile (null: none). */
  private static void assertProcesses(Vassal v, VassalInstance current, VassalInstance predecessor) {
    assertSame(current, v.proc, "current process");
    assertSame(predecessor, v.predecessor, "predecessor");
  }

  private static void assertFlags(Vassal v, boolean ready, boolean accepting, boolean loyal) {
    assertEquals(ready, v.ready, "ready");
    assertEquals(accepting, v.accepting, "accepting");
    assertEquals(loyal, v.loyal, "loyal");
  }

  @Test
  void aFirstStartSpawnsOrAdoptsAndCountsNoRespawn() {
    Vassal spawned = plain();
    assertEquals(VassalState.DEAD, spawned.state());
    VassalInstance p = start(spawned, false);
    assertEquals(VassalState.RUNNING, spawned.state());
    assertSame(p, spawned.proc);
    assertFalse(spawned.adopted());
    assertEquals(1, spawned.starts);
    assertEquals(0, spawned.respawns);
    assertEquals(now, spawned.firstRun);
    assertEquals(now, spawned.lastRun);
    assertEquals(Intent.RUN, spawned.intent());

    Vassal adopted = plain();
    start(adopted, true);
    assertTrue(adopted.adopted());
    assertEquals(Optional.of(FORK_SERVER), adopted.forkServer);
    assertEquals(VassalState.RUNNING, adopted.state());
  }

  @Test
  void reportsMoveTheStateForwardOnlyAndAreFirstOnlyOnce() {
    Vassal v = serving(false, VassalState.LOYAL);
    assertEquals(VassalState.LOYAL, v.state());
    assertFlags(v, true, true, true);
    assertEquals(now, v.lastReady);
    assertEquals(now, v.lastAccepting);
    assertEquals(now, v.lastLoyal);
    assertFalse(v.reportedReady(now), "a repeated 1 is no event");
    assertFalse(v.progressTo(VassalState.READY), "a late 1 does not move LOYAL back");
    assertEquals(VassalState.LOYAL, v.state());

    v.condemned();
    assertFalse(v.progressTo(VassalState.LOYAL), "a process being stopped reports no progress");
    assertEquals(VassalState.STOPPING, v.state());
  }

  @Test
  void aDeathBeforeAcceptingIsThrottledAndItsNextStartIsARespawn() {
    Vassal v = plain();
    VassalInstance first = start(v, false);
    reportUpTo(v, VassalState.READY);
    v.condemned(); // its pipe closed without a stop: cursed
    boolean wasAccepting = v.accepting;
    assertEquals(Intent.RUN, v.died());
    assertFalse(wasAccepting);
    assertEquals(VassalState.DEAD, v.state());
    assertNull(v.proc);
    assertFlags(v, false, false, false);
    v.throttled();
    assertEquals(VassalState.THROTTLED, v.state());

    VassalInstance second = start(v, false);
    assertEquals(VassalState.RUNNING, v.state());
    assertEquals(2, v.starts);
    assertEquals(1, v.respawns);
    assertTrue(second.pid != first.pid);
  }

  @Test
  void aDeathAfterAcceptingIsRespawnedWithFreshFlags() {
    Vassal v = serving(true, VassalState.ACCEPTING);
    assertTrue(v.heartbeat(now, 1));
    assertEquals(Intent.RUN, v.died());
    assertNull(v.lastHeartbeat, "the next process must send its own first heartbeat");
    assertFlags(v, false, false, false);
    start(v, true);
    assertFlags(v, false, false, false);
    assertEquals(1, v.respawns);
  }

  @Test
  void aNextGenerationKeepsItsPredecessorUntilItAccepts() {
    Vassal v = serving(false, VassalState.LOYAL);
    VassalInstance old = v.proc;

    v.nextGenerationStarting(now);
    assertProcesses(v, null, old);
    assertTrue(v.predecessorLoyal);
    assertFlags(v, false, false, false);
    assertEquals(1, v.respawns, "counted once, now");

    VassalInstance next = start(v, false);
    assertEquals(VassalState.RUNNING, v.state());
    assertEquals(1, v.respawns, "the next generation continues the old one: no second count");
    assertEquals(2, v.starts);
    assertSame(old, v.predecessor);
    reportUpTo(v, VassalState.ACCEPTING);

    assertSame(old, v.letPredecessorGo(), "handed over once the successor accepts");
    assertProcesses(v, next, null);
    assertEquals(VassalState.ACCEPTING, v.state());
  }

  @Test
  void aNextGenerationThatDiesBeforeAcceptingGivesThePredecessorBackWithItsFlags() {
    Vassal v = serving(false, VassalState.ACCEPTING);
    VassalInstance old = v.proc;
    v.nextGenerationStarting(now);
    start(v, false);
    reportUpTo(v, VassalState.READY);
    v.condemned();

    assertSame(old, v.predecessorRestored());
    assertProcesses(v, old, null);
    assertFlags(v, true, true, false);
    assertEquals(VassalState.ACCEPTING, v.state(), "it was not loyal, so it is not now");
    assertFalse(v.lastDeathWasReload, "its own death later is a failure, not a reload");

    // a loyal predecessor is LOYAL again; one dropped successor before the next keeps it
    v.reportedLoyal(now);
    v.progressTo(VassalState.LOYAL);
    v.nextGenerationStarting(now);
    start(v, false);
    v.nextGenerationStarting(now); // superseded before it accepted: the predecessor stays
    assertProcesses(v, null, old);
    start(v, false);
    assertSame(old, v.predecessorRestored());
    assertFlags(v, true, true, true);
    assertEquals(VassalState.LOYAL, v.state());
  }

  @Test
  void aNextGenerationThatCannotEvenBeWatchedGivesThePredecessorBack() {
    Vassal v = serving(true, VassalState.ACCEPTING);
    VassalInstance old = v.proc;
    v.nextGenerationStarting(now);
    v.startAttempt(new StartAttempt(Optional.of(FORK_SERVER)));
    assertSame(old, v.predecessorRestored()); // pidfd_open failed: no processStarted
    assertEquals(VassalState.ACCEPTING, v.state());
    v.keepsAdopting(); // what a base's restore adds
    assertEquals(VassalState.LOYAL, v.state());
  }

  @Test
  void aReloadInPlaceIsCountedOnceAndItsDeathIsItsContinuation() {
    Vassal v = serving(true, VassalState.LOYAL);
    v.reloading(now);
    assertEquals(Intent.RELOAD, v.intent());
    assertEquals(1, v.respawns);
    v.reloadSent();
    assertEquals(VassalState.RUNNING, v.state());
    assertFlags(v, false, false, true);

    v.condemned(); // an adopted vassal exits on 1
    assertEquals(Intent.RELOAD, v.died());
    assertEquals(Intent.RUN, v.intent());
    assertTrue(v.lastDeathWasReload);
    v.startAttempt(new StartAttempt(Optional.of(FORK_SERVER)));
    assertTrue(v.processStarted(new VassalInstance(nextPid++, -1, -1, -1, true), now));
    assertEquals(1, v.respawns);

    // a plain vassal reloads keeping its pid: its 1 ends the reload
    v.reloading(now);
    v.reloadSent();
    v.reportedReady(now);
    v.intend(Intent.RUN);
    assertTrue(v.progressTo(VassalState.READY));
  }

  @Test
  void idleVassalsStopOrGoBackToTheirSocket() {
    Vassal v = serving(false, VassalState.ACCEPTING);
    v.intend(Intent.IDLE_STOP);
    v.condemned();
    assertEquals(Intent.IDLE_STOP, v.died());
    assertEquals(Intent.RUN, v.intent());
    v.idled();
    assertEquals(VassalState.IDLE, v.state());
    start(v, false); // its config changed
    assertEquals(VassalState.RUNNING, v.state());

    Vassal od = vassal(VassalSpec.ofText("od.ini", "[uwsgi]\n").withStart(new VassalSpec.Plain())
        .withOnDemand("127.0.0.1:9191"));
    od.waitingOnSocket();
    assertEquals(VassalState.ON_DEMAND, od.state());
    start(od, false); // a connection came
    reportUpTo(od, VassalState.ACCEPTING);
    od.intend(Intent.BACK_TO_ON_DEMAND);
    od.condemned();
    assertEquals(Intent.BACK_TO_ON_DEMAND, od.died());
    od.waitingOnSocket();
    assertEquals(VassalState.ON_DEMAND, od.state());
    assertEquals(Intent.RUN, od.intent());
  }

  @Test
  void removalAndShutdownLastUntilTheVassalIsForgotten() {
    Vassal removed = plain();
    start(removed, false);
    removed.intend(Intent.REMOVE);
    removed.condemned();
    assertEquals(Intent.REMOVE, removed.died());
    assertEquals(Intent.REMOVE, removed.intent(), "a later start request must not revive it");

    Vassal running = serving(false, VassalState.LOYAL);
    running.shuttingDown();
    assertEquals(Intent.SHUTDOWN, running.intent());
    assertEquals(VassalState.LOYAL, running.state(), "still up until it is told to stop");
    running.condemned();
    assertEquals(Intent.SHUTDOWN, running.died());
    assertEquals(Intent.SHUTDOWN, running.intent());

    Vassal throttled = plain();
    start(throttled, false);
    throttled.died();
    throttled.throttled();
    throttled.shuttingDown();
    assertEquals(VassalState.DEAD, throttled.state(), "nothing to wait for any more");

    Vassal starting = plain();
    starting.startAttempt(new StartAttempt(Optional.empty()));
    starting.shuttingDown();
    assertEquals(VassalState.DEAD, starting.state());
  }

  @Test
  void failedAttemptsBackOffAndAreLoggedSparingly() {
    Vassal v = plain();
    long first = v.attemptFailed();
    assertTrue(v.failureWorthLogging());
    assertTrue(v.attemptFailed() >= first);
    assertFalse(v.failureWorthLogging());
    for (int i = 3; i <= 20; i++) {
      v.attemptFailed();
    }
    assertTrue(v.failureWorthLogging(), "every 20th");
    v.attemptSucceeded();
    assertEquals(0, v.failures);
    assertEquals(first, v.attemptFailed(), "the backoff starts over");
  }

  @Test
  void aHeartbeatSilenceIsJudgedOnce() {
    Vassal v = plain();
    start(v, false);
    assertTrue(v.heartbeat(now, 5));
    assertFalse(v.heartbeat(now, 6));
    assertEquals(6, v.lastHeartbeatNanos);
    v.silenceNoticed();
    assertNull(v.lastHeartbeat);
    assertTrue(v.heartbeat(now, 7), "a heartbeat after a judged silence starts a new watch");
    assertNotNull(v.lastHeartbeat);
  }

  @Test
  void theTableHasTheMovesTheEmperorMakesAndNoOthers() {
    assertFalse(VassalState.DEAD.canMoveTo(VassalState.LOYAL));
    assertFalse(VassalState.DEAD.canMoveTo(VassalState.RUNNING), "a process exists only after a start");
    assertFalse(VassalState.DEAD.canMoveTo(VassalState.STOPPING));
    assertFalse(VassalState.STOPPING.canMoveTo(VassalState.RUNNING));
    assertFalse(VassalState.STOPPING.canMoveTo(VassalState.SPAWNING), "a dying process dies first");
    assertFalse(VassalState.ON_DEMAND.canMoveTo(VassalState.ACCEPTING));
    assertFalse(VassalState.IDLE.canMoveTo(VassalState.THROTTLED));
    assertFalse(VassalState.ACCEPTING.canMoveTo(VassalState.READY), "reports only move forward");
    for (VassalState s : VassalState.values()) {
      assertTrue(s.canMoveTo(s), s + " may stay");
      assertTrue(s.canMoveTo(VassalState.DEAD), s + " can lose its process, or be dropped at shutdown");
    }
    assertTrue(VassalState.LOYAL.canMoveTo(VassalState.SPAWNING), "a next generation starts beside it");
    assertTrue(VassalState.STOPPING.canMoveTo(VassalState.LOYAL), "a predecessor takes over again");
  }

  @Test
  void anIllegalMoveIsMadeAndLoggedButNeverThrows() {
    Vassal v = plain();
    assertFalse(v.state().canMoveTo(VassalState.RUNNING));
    assertDoesNotThrow(v::reloadSent);
    assertEquals(VassalState.RUNNING, v.state(), "behaviour stays what the caller asked for");
  }
}
