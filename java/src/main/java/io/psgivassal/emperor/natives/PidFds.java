package io.psgivassal.emperor.natives;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import io.psgivassal.emperor.api.ExitStatus;
import java.util.Optional;

/**
 * pidfd_open(2) and waitid(2). Waiting is always per process (P_PIDFD or P_PID) and never
 * waitid(P_ALL)/waitpid(-1): the JDK reaps its own Process children by pid, and stealing one of
 * those statuses would break java.lang.Process.
 */
public final class PidFds {
  private static final long SYS_PIDFD_OPEN = 434;
  /** Same value as O_NONBLOCK; makes waitid on the pidfd fail with EAGAIN instead of blocking. */
  public static final int PIDFD_NONBLOCK = LibC.O_NONBLOCK;

  private static final int P_PID = 1;
  private static final int P_PIDFD = 3;
  private static final int WNOHANG = 1;
  private static final int WEXITED = 4;

  // siginfo_t on x86_64: si_signo@0, si_errno@4, si_code@8, then the _sigchld union member
  // starts at 16 (8-byte aligned): si_pid@16, si_uid@20, si_status@24. Total 128 bytes.
  private static final int SIGINFO_SIZE = 128;
  private static final int SI_CODE = 8;
  private static final int SI_PID = 16;
  private static final int SI_STATUS = 24;
  private static final int CLD_EXITED = 1;
  private static final int CLD_KILLED = 2;
  private static final int CLD_DUMPED = 3;

  private PidFds() {}

  /** A pidfd for {@code pid}; pidfds are always close-on-exec. Non-blocking, for epoll. */
  public static int open(int pid) {
    long fd = LibC.INSTANCE.syscall(SYS_PIDFD_OPEN, (long) pid, (long) PIDFD_NONBLOCK);
    if (fd < 0) {
      throw NativeException.last("pidfd_open");
    }
    return (int) fd;
  }

  /** Whether pidfd_open failed because the process is gone (ESRCH), not for want of descriptors. */
  public static boolean noSuchProcess(NativeException e) {
    return e.errno() == LibC.ESRCH;
  }

  /**
   * Reaps the child behind {@code pidfd} if it has exited. Empty while it is still running.
   * ECHILD (not our child, or already reaped) is reported as {@link ExitStatus.Kind#UNKNOWN}.
   */
  public static Optional<ExitStatus> waitNoHang(int pidfd, int pidForReport) {
    return waitid(P_PIDFD, pidfd, pidForReport, "waitid(P_PIDFD)");
  }

  /** Reaps child {@code pid} if it has exited (waitid P_PID, WNOHANG). */
  public static Optional<ExitStatus> reapNoHang(int pid) {
    return waitid(P_PID, pid, pid, "waitid(P_PID)");
  }

  private static Optional<ExitStatus> waitid(int idtype, int id, int pid, String call) {
    try (Memory info = new Memory(SIGINFO_SIZE)) {
      while (true) {
        info.clear();
        if (LibC.INSTANCE.waitid(idtype, id, info, WEXITED | WNOHANG) == 0) {
          break;
        }
        int errno = Native.getLastError();
        if (errno == LibC.EINTR) {
          continue;
        }
        if (errno == LibC.EAGAIN) {
          return Optional.empty();
        }
        if (errno == LibC.ECHILD) {
          return Optional.of(ExitStatus.unknown(pid));
        }
        throw new NativeException(call, errno);
      }
      int reaped = info.getInt(SI_PID);
      if (reaped == 0) {
        return Optional.empty();
      }
      int code = info.getInt(SI_CODE);
      int status = info.getInt(SI_STATUS);
      return Optional.of(switch (code) {
        case CLD_EXITED -> ExitStatus.exited(reaped, status);
        case CLD_KILLED -> ExitStatus.killed(reaped, status);
        case CLD_DUMPED -> new ExitStatus(reaped, ExitStatus.Kind.DUMPED, status);
        default -> ExitStatus.unknown(reaped);
      });
    }
  }
}
