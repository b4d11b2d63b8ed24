package io.psgivassal.emperor.testing;

import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalListener;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records every vassal event, for assertions and waits. */
public final class Events implements VassalListener {
  private final List<VassalEvent> all = new CopyOnWriteArrayList<>();

  @Override
  public void onEvent(VassalEvent event) {
    all.add(event);
  }

  public List<VassalEvent> all() {
    return List.copyOf(all);
  }

  public List<VassalEvent> of(String vassal) {
    return all.stream().filter(e -> e.vassal().equals(vassal)).toList();
  }

  public List<VassalEvent.Type> typesOf(String vassal) {
    return of(vassal).stream().map(VassalEvent::type).toList();
  }

  public List<VassalEvent> of(String vassal, VassalEvent.Type type) {
    return of(vassal).stream().filter(e -> e.type() == type).toList();
  }

  public long count(String vassal, VassalEvent.Type type) {
    return of(vassal, type).size();
  }

  public VassalEvent await(String vassal, VassalEvent.Type type, int nth, Duration max) throws InterruptedException {
    Await.until(vassal + " " + type + " #" + nth + " (events so far: " + typesOf(vassal) + ")", max,
        () -> count(vassal, type) >= nth);
    return of(vassal, type).get(nth - 1);
  }

  @Override
  public String toString() {
    return all.toString();
  }
}
