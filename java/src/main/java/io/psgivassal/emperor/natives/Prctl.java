package io.psgivassal.emperor.natives;

import com.sun.jna.Memory;

/** prctl(2) options the Emperor needs. */
public final class Prctl {
  private static final int PR_SET_CHILD_SUBREAPER = 36;
  private static final int PR_GET_CHILD_SUBREAPER = 37;

  private Prctl() {}

  /**
   * Makes this process the reaper of its orphaned descendants, so a fork server's double-forked
   * vassals become our children and can be watched with pidfds and waited for.
   */
  public static void setChildSubreaper(boolean on) {
    if (LibC.INSTANCE.prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) != 0) {
      throw NativeException.last("prctl(PR_SET_CHILD_SUBREAPER)");
    }
  }

  public static boolean isChildSubreaper() {
    try (Memory out = new Memory(4)) {
      out.setInt(0, 0);
      if (LibC.INSTANCE.prctl(PR_GET_CHILD_SUBREAPER, com.sun.jna.Pointer.nativeValue(out), 0, 0, 0) != 0) {
        throw NativeException.last("prctl(PR_GET_CHILD_SUBREAPER)");
      }
      return out.getInt(0) != 0;
    }
  }
}
