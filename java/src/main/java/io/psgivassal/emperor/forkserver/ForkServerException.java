package io.psgivassal.emperor.forkserver;

/** An adoption through the fork server did not produce a vassal pid. */
public class ForkServerException extends Exception {
  private final boolean retryable;

  public ForkServerException(String message, boolean retryable) {
    super(message);
    this.retryable = retryable;
  }

  public ForkServerException(String message, boolean retryable, Throwable cause) {
    super(message, cause);
    this.retryable = retryable;
  }

  /** True when the same request may well succeed later (server not up yet, slow reply). */
  public boolean isRetryable() {
    return retryable;
  }
}
