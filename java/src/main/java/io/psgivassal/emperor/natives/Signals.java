package io.psgivassal.emperor.natives;

import io.psgivassal.emperor.api.ExitStatus;

/** Sending signals, by pid or (race-free) by pidfd. */
public final class Signals {
  public static final int SIGHUP = 1;
  public static final int SIGINT = 2;
  public static final int SIGQUIT = 3;
  public static final int SIGKILL = 9;
  public static final int SIGTERM = 15;
  public static final int SIGCONT = 18;
  public static final int SIGSTOP = 19;

  private static final long SYS_PIDFD_SEND_SIGNAL = 424;

  private Signals() {}

  /**
   * kill(2). Only safe on a pid that cannot have been recycled, i.e. an unreaped child of ours;
   * prefer {@link #pidfdSendSignal} otherwise.
   */
  public static void kill(int pid, int sig) {
    if (LibC.INSTANCE.kill(pid, sig) != 0) {
      throw NativeException.last("kill");
    }
  }

  /**
   * kill(2) of process group {@code pgid}: every process in it. Safe while the group's leader is an
   * unreaped child of ours (its pid, which is the group's id, cannot be recycled meanwhile).
   */
  public static void killGroup(int pgid, int sig) {
    if (pgid <= 1) {
      throw new IllegalArgumentException("not a process group of ours: " + pgid); // kill(0) or kill(-1): far too much
    }
    kill(-pgid, sig);
  }

  // syscall(2) is variadic and reads every argument as a long: pass longs, not ints.
  /** pidfd_send_signal(2): cannot hit a recycled pid, because the pidfd pins the process. */
  public static void pidfdSendSignal(int pidfd, int sig) {
    if (LibC.INSTANCE.syscall(SYS_PIDFD_SEND_SIGNAL, (long) pidfd, (long) sig, 0L, 0L) != 0) {
      throw NativeException.last("pidfd_send_signal");
    }
  }

  public static String name(int sig) {
    return ExitStatus.signalName(sig);
  }
}
