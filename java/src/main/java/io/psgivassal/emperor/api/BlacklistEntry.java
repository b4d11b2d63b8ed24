package io.psgivassal.emperor.api;

import java.time.Duration;
import java.time.Instant;

/**
 * A vassal that died before it was loyal, as uWSGI's Emperor stats report it.
 *
 * @param throttle how long the Emperor waits after the last attempt before starting it again
 * @param attempt how many times in a row it died before it was loyal
 */
public record BlacklistEntry(String vassal, Duration throttle, int attempt, Instant firstAttempt, Instant lastAttempt) {}
