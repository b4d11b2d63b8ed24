package io.psgivassal.emperor.forkserver;

import java.time.Duration;

/** The fork server accepted the request but sent no complete pid reply in time. */
public class AdoptionTimeoutException extends ForkServerException {
  public AdoptionTimeoutException(Duration timeout) {
    super("no pid reply from the fork server within " + timeout.toMillis() + " ms", true);
  }
}
