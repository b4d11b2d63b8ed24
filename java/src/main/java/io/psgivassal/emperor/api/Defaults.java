package io.psgivassal.emperor.api;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Every default of the Emperor, in one place: {@link Emperor.Builder} starts from these, and the
 * CLI's parser and its {@code --help} read them. uWSGI's where uWSGI has one.
 */
public final class Defaults {
  /** The vassal program, looked up in PATH (--binary-path). */
  public static final String BINARY = "psgi-vassal";
  /** How long a stopping vassal may take before SIGKILL (--reload-mercy). */
  public static final Duration RELOAD_MERCY = Duration.ofSeconds(30);
  /** The blacklist throttle's step for a vassal that dies before it is loyal (--emperor-throttle). */
  public static final Duration THROTTLE = Duration.ofMillis(1000);
  /** The largest blacklist throttle (--emperor-max-throttle). */
  public static final Duration MAX_THROTTLE = Duration.ofMinutes(3);
  /** Silence after a first heartbeat that gets a vassal killed and respawned; 0: never (--emperor-heartbeat). */
  public static final Duration HEARTBEAT = Duration.ofSeconds(30);
  /** How many adopted vassals a deploy moves at a time (--emperor-deploy-batch). */
  public static final int DEPLOY_BATCH = 8;
  /** How long a start or stop hook may run before it is killed (--vassals-hook-timeout). */
  public static final Duration HOOK_TIMEOUT = Duration.ofSeconds(60);
  /** The monitors' periodic rescan, besides file-system notifications (--emperor-freq). */
  public static final Duration RESCAN_INTERVAL = Duration.ofSeconds(3);
  /** The wait before a dead vassal is started again. */
  public static final Duration RESPAWN_DELAY = Duration.ZERO;
  /** How long an adoption may wait for the fork server's answer. */
  public static final Duration ADOPTION_TIMEOUT = Duration.ofSeconds(10);
  /** The first and the largest wait before retrying a fork server that did not answer. */
  public static final Duration RETRY_INITIAL = Duration.ofMillis(100);
  public static final Duration RETRY_MAX = Duration.ofSeconds(2);
  /** How often orphaned workers are looked for and reaped. */
  public static final Duration ORPHAN_SCAN_INTERVAL = Duration.ofSeconds(1);
  /** Adoptions in flight at once, over every fork server. */
  public static final int MAX_CONCURRENT_ADOPTIONS = 32;
  /** How many of a fleet's vassals one Emperor runs at most (--emperor-capacity). */
  public static final int FLEET_CAPACITY = 1000;
  /** A fleet Emperor silent this long loses its vassals to the others (--emperor-fleet-lease). */
  public static final Duration FLEET_LEASE = Duration.ofSeconds(5);
  /** The web dashboard's HOST:PORT (--emperor-web): none, the dashboard is off unless asked for. */
  public static final Optional<String> WEB = Optional.empty();
  /** The file with the dashboard actions' token (--emperor-web-token-file): none, the dashboard is read-only. */
  public static final Optional<Path> WEB_TOKEN_FILE = Optional.empty();

  private Defaults() {}

  /** The config file extensions a directory monitor takes, as in uWSGI: what {@link VassalSpec} accepts. */
  public static List<String> configExtensions() {
    return VassalSpec.configExtensions();
  }
}
