package io.psgivassal.emperor.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.MonitorContext;
import io.psgivassal.emperor.api.MonitorSettings;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProgrammaticMonitorTest {
  private final List<String> calls = new ArrayList<>();

  private final MonitorContext ctx = new MonitorContext() {
    @Override
    public void put(VassalSpec spec, Instant lastModified) {
      calls.add("put " + spec.name() + " " + ((VassalSpec.TextConfig) spec.config()).text());
    }

    @Override
    public void remove(String name) {
      calls.add("remove " + name);
    }

    @Override
    public void execute(Runnable task) {
      task.run();
    }

    @Override
    public Cancellable schedule(Duration delay, Runnable task) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Cancellable watch(int fd, Runnable onReadable) {
      throw new UnsupportedOperationException();
    }

    @Override
    public MonitorSettings settings() {
      return MonitorSettings.defaults();
    }
  };

  @Test
  void addsBeforeStartAreDeliveredAtStartLaterOnesAtOnce() {
    ProgrammaticMonitor m = new ProgrammaticMonitor("api");
    m.add(VassalSpec.ofText("a.ini", "1"));
    assertEquals(List.of(), calls);
    m.start(ctx);
    assertEquals(List.of("put a.ini 1"), calls);
    m.update(VassalSpec.ofText("a.ini", "1"));
    assertEquals(1, calls.size(), "an identical update changes nothing");
    m.update(VassalSpec.ofText("a.ini", "2"));
    m.put(VassalSpec.ofText("b.ini", "3"));
    assertTrue(m.remove("a.ini"));
    assertFalse(m.remove("a.ini"));
    assertEquals(List.of("put a.ini 1", "put a.ini 2", "put b.ini 3", "remove a.ini"), calls);
    assertThrows(IllegalArgumentException.class, () -> m.add(VassalSpec.ofText("b.ini", "x")));
    assertThrows(IllegalArgumentException.class, () -> m.update(VassalSpec.ofText("zz.ini", "x")));
    m.stop();
    assertThrows(IllegalStateException.class, () -> m.add(VassalSpec.ofText("c.ini", "x")));
  }
}
