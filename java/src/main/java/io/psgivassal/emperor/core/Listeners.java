package io.psgivassal.emperor.core;

import com.google.common.util.concurrent.MoreExecutors;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Fan-out of vassal events; each listener sees its events in order, whatever executor it uses. */
final class Listeners {
  private static final Logger log = LoggerFactory.getLogger(Listeners.class);

  private record Entry(VassalListener listener, Executor executor) {}

  private final List<Entry> entries = new CopyOnWriteArrayList<>();

  void add(VassalListener listener, Executor executor) {
    entries.add(new Entry(listener, MoreExecutors.newSequentialExecutor(executor)));
  }

  void fire(VassalEvent event) {
    for (Entry e : entries) {
      try {
        e.executor().execute(() -> {
          try {
            e.listener().onEvent(event);
          } catch (RuntimeException ex) {
            log.warn("vassal listener {} failed on {}", e.listener(), event, ex);
          }
        });
      } catch (RuntimeException rejected) {
        log.warn("vassal listener executor rejected {}", event, rejected);
      }
    }
  }
}
