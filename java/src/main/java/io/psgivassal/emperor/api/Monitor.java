package io.psgivassal.emperor.api;

/**
 * A source of vassals (uWSGI's imperial monitor): it tells the Emperor which vassals exist, when
 * their config changes and when they go away. Started and stopped on the Emperor's event loop
 * thread; it delivers everything through its {@link MonitorContext}, never with a thread per vassal.
 */
public interface Monitor {
  /** Unique within an Emperor; shown in logs and in the stats "emperor" list (e.g. the directory or glob). */
  String id();

  /** Called once on the loop thread when the Emperor runs; report the vassals that exist now. */
  void start(MonitorContext context);

  /** Called once on the loop thread when the Emperor stops; release threads and watches. */
  void stop();
}
