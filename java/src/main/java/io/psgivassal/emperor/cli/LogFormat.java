package io.psgivassal.emperor.cli;

import java.util.Map;

/**
 * The CLI's log format, for the slf4j-simple binding that only target/emperor.jar carries: one
 * readable line per event, e.g. {@code 2025-01-01 12:00:00.123 INFO Supervisor - vassal app1.ini
 * (pid 1234, adopted) -> ACCEPTING on http://127.0.0.1:9081/}. Set as system properties, not shipped
 * as a simplelogger.properties, so that the library jar configures no host's logging; a property
 * given with -D wins.
 */
final class LogFormat {
  private static final Map<String, String> SIMPLE_LOGGER = Map.of(
      "org.slf4j.simpleLogger.defaultLogLevel", "info",
      "org.slf4j.simpleLogger.showDateTime", "true",
      "org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd HH:mm:ss.SSS",
      "org.slf4j.simpleLogger.showThreadName", "false",
      "org.slf4j.simpleLogger.showLogName", "false",
      "org.slf4j.simpleLogger.showShortLogName", "true",
      "org.slf4j.simpleLogger.levelInBrackets", "false",
      "org.slf4j.simpleLogger.logFile", "System.err");

  private LogFormat() {}

  /** Before the first logger is made. */
  static void apply() {
    SIMPLE_LOGGER.forEach((key, value) -> {
      if (System.getProperty(key) == null) {
        System.setProperty(key, value);
      }
    });
  }
}
