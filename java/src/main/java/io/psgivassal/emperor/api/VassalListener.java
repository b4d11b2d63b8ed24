package io.psgivassal.emperor.api;

/** Receives vassal events, in order, on the executor it was registered with. */
@FunctionalInterface
public interface VassalListener {
  void onEvent(VassalEvent event);
}
