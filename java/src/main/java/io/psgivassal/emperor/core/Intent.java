package io.psgivassal.emperor.core;

/**
 * What the Emperor wants from a vassal's current process; it decides what happens when that
 * process dies.
 */
enum Intent {
  /** Keep it running: a death is unexpected (respawn; blacklist if it was not loyal yet). */
  RUN,
  /** Sent 1 because its config changed: a death is the reload (respawn at once, never blacklisted). */
  RELOAD,
  /** It said it was idle (22): once dead it stays stopped until its config changes. */
  IDLE_STOP,
  /** An on-demand vassal said it was idle (22): once dead, wait on its socket again. */
  BACK_TO_ON_DEMAND,
  /** Its on-demand socket changed: once dead, start afresh with the new spec. */
  REPLACE,
  /** Its config is gone: once dead, forget it. */
  REMOVE,
  /** The Emperor is stopping. */
  SHUTDOWN
}
