package io.psgivassal.emperor.api;

/** How a child ended, decoded from siginfo_t.si_code / si_status. */
public record ExitStatus(int pid, Kind kind, int value) {
  private static final String[] SIGNAL_NAMES = {
    null, "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
    "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
    "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
    "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"
  };

  public enum Kind {
    EXITED,
    KILLED,
    DUMPED,
    /** The process is gone but its status was collected elsewhere (waitid said ECHILD). */
    UNKNOWN
  }

  public static ExitStatus exited(int pid, int code) {
    return new ExitStatus(pid, Kind.EXITED, code);
  }

  public static ExitStatus killed(int pid, int signal) {
    return new ExitStatus(pid, Kind.KILLED, signal);
  }

  public static ExitStatus unknown(int pid) {
    return new ExitStatus(pid, Kind.UNKNOWN, 0);
  }

  public boolean exitedWith(int code) {
    return kind == Kind.EXITED && value == code;
  }

  public boolean killedBy(int signal) {
    return (kind == Kind.KILLED || kind == Kind.DUMPED) && value == signal;
  }

  @Override
  public String toString() {
    return switch (kind) {
      case EXITED -> "exited with status " + value;
      case KILLED -> "killed by " + signalName(value);
      case DUMPED -> "killed by " + signalName(value) + " (core dumped)";
      case UNKNOWN -> "exit status unknown";
    };
  }

  /** "SIGTERM" for 15: Linux's signal names, "signal N" for the others. */
  public static String signalName(int sig) {
    return sig > 0 && sig < SIGNAL_NAMES.length ? SIGNAL_NAMES[sig] : "signal " + sig;
  }
}
