package io.psgivassal.emperor.natives;

import com.sun.jna.Native;

/** A failed system call: names the call and carries errno, e.g. "posix_spawn: No such file or directory (errno 2)". */
public class NativeException extends RuntimeException {
  private final String call;
  private final int errno;

  public NativeException(String call, int errno) {
    super(call + ": " + describe(errno));
    this.call = call;
    this.errno = errno;
  }

  /** Builds the exception from the calling thread's errno, which JNA preserves after each call. */
  static NativeException last(String call) {
    return new NativeException(call, Native.getLastError());
  }

  public String call() {
    return call;
  }

  public int errno() {
    return errno;
  }

  public static String describe(int errno) {
    return LibC.INSTANCE.strerror(errno) + " (errno " + errno + ")";
  }
}
