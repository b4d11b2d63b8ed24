package io.psgivassal.emperor.forkserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.forkserver.AdoptedPidCheck.Accept;
import io.psgivassal.emperor.forkserver.AdoptedPidCheck.Refuse;
import io.psgivassal.emperor.forkserver.AdoptedPidCheck.Verdict;
import io.psgivassal.emperor.forkserver.AdoptedPidCheck.Wait;
import io.psgivassal.emperor.natives.ProcFs;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Which pid replies are taken: the rules alone, on made-up /proc facts. */
class AdoptedPidCheckTest {
  private static final int EMPEROR = 100;
  private static final int FORK_SERVER = 200; // session 200
  private final Map<Integer, ProcFs.Stat> procs = Map.of(
      EMPEROR, new ProcFs.Stat(EMPEROR, 'S', 1, 100, 100),
      FORK_SERVER, new ProcFs.Stat(FORK_SERVER, 'S', EMPEROR, 200, 200),
      300, new ProcFs.Stat(300, 'S', EMPEROR, 200, 200),   // the adoption, re-parented
      301, new ProcFs.Stat(301, 'S', 299, 200, 200),       // the adoption, first child still there
      400, new ProcFs.Stat(400, 'S', EMPEROR, 400, 400),   // the Emperor's child in its own session
      500, new ProcFs.Stat(500, 'S', 1, 500, 500));        // unrelated

  private Verdict judge(int pid, int forkServer, int... attached) {
    return AdoptedPidCheck.judge(pid, forkServer, EMPEROR,
        p -> java.util.Arrays.stream(attached).anyMatch(a -> a == p), p -> Optional.ofNullable(procs.get(p)));
  }

  @Test
  void theReParentedGrandchildInTheForkServersSessionIsAccepted() {
    assertInstanceOf(Accept.class, judge(300, FORK_SERVER));
  }

  @Test
  void oneNotReParentedYetIsWaitedFor() {
    assertInstanceOf(Wait.class, judge(301, FORK_SERVER));
  }

  @Test
  void anythingElseIsRefusedWithTheReason() {
    assertTrue(((Refuse) judge(500, FORK_SERVER)).why().contains("session 500"));
    assertTrue(((Refuse) judge(400, FORK_SERVER)).why().contains("not in the fork server's session 200"));
    assertTrue(((Refuse) judge(999, FORK_SERVER)).why().contains("does not exist"));
    assertTrue(((Refuse) judge(300, FORK_SERVER, 300)).why().contains("already a vassal"));
    assertTrue(((Refuse) judge(FORK_SERVER, FORK_SERVER)).why().contains("its own pid"));
    assertInstanceOf(Refuse.class, judge(EMPEROR, FORK_SERVER));
    assertInstanceOf(Refuse.class, judge(1, FORK_SERVER));
    assertInstanceOf(Refuse.class, judge(0, FORK_SERVER));
    assertTrue(((Refuse) judge(300, 0)).why().contains("another pid namespace"));
    assertEquals("the fork server (pid 201) is gone", ((Refuse) judge(300, 201)).why());
  }
}
