package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalView;
import io.psgivassal.emperor.testing.VassalWorld;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * What the Emperor integration tests share: a fresh {@link VassalWorld} per test (temp dirs, free
 * ports, and every process it starts) that is torn down whatever the test's outcome, and the
 * Emperor under test.
 */
abstract class WorldFixture {
  static final Duration WAIT = VassalWorld.WAIT;
  VassalWorld world;
  Emperor emperor;

  @BeforeEach
  void createWorld() throws Exception {
    world = VassalWorld.create();
  }

  @AfterEach
  void closeWorld() throws Exception {
    try {
      closeWorldHook();
    } finally {
      world.close();
    }
  }

  /** What a test class must stop before its world goes (its clients, say). */
  void closeWorldHook() throws Exception {}

  VassalView view(String name) {
    return emperor.vassal(name).orElseThrow(() -> new AssertionError(name + " not in " + emperor.vassals()));
  }
}
