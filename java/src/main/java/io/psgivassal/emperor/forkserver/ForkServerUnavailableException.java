package io.psgivassal.emperor.forkserver;

import io.psgivassal.emperor.natives.NativeException;

/**
 * Nobody accepts on the fork-server socket yet: the file is missing (ENOENT), stale
 * (ECONNREFUSED) or the backlog is full (EAGAIN). Normal while the base vassal starts or restarts.
 */
public class ForkServerUnavailableException extends ForkServerException {
  private final int errno;

  public ForkServerUnavailableException(NativeException cause) {
    super(cause.getMessage(), true, cause);
    this.errno = cause.errno();
  }

  public int errno() {
    return errno;
  }
}
