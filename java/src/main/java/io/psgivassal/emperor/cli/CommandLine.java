package io.psgivassal.emperor.cli;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The uWSGI-style flags the CLI understands, parsed strictly. */
record CommandLine(
    Optional<Path> emperorDir,
    Optional<Path> forkServerSocket,
    List<String> forkBases,
    Optional<String> binaryPath,
    Duration reloadMercy,
    boolean help) {

  static final Duration DEFAULT_RELOAD_MERCY = Duration.ofSeconds(30);

  static final String USAGE = String.join("\n",
      "usage: emperor --emperor DIR [options]",
      "  --emperor DIR                   directory of vassal *.ini files (read once at start)",
      "  --emperor-use-fork-server SOCK  adopt vassals through the fork server listening on SOCK",
      "  --vassal-fork-base NAME         spawn this ini directly (it runs the fork server); repeatable",
      "  --binary-path PATH              the vassal program (default: psgi-vassal from PATH)",
      "  --reload-mercy SECONDS          how long stopping vassals may take before SIGKILL (default 30)",
      "  --help                          this text");

  /** A flag that is unknown, lacks its value, or has a malformed one. */
  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  static CommandLine parse(String[] args) throws UsageException {
    Path dir = null;
    Path socket = null;
    List<String> bases = new ArrayList<>();
    String binary = null;
    Duration mercy = DEFAULT_RELOAD_MERCY;
    boolean help = false;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      String value = null;
      int eq = flag.indexOf('=');
      if (flag.startsWith("--") && eq > 0) {
        value = flag.substring(eq + 1);
        flag = flag.substring(0, eq);
      }
      if (flag.equals("--help") || flag.equals("-h")) {
        help = true;
        continue;
      }
      if (!List.of("--emperor", "--emperor-use-fork-server", "--vassal-fork-base", "--binary-path", "--reload-mercy")
          .contains(flag)) {
        throw new UsageException("unknown option " + args[i]);
      }
      if (value == null) {
        if (i + 1 >= args.length) {
          throw new UsageException("option " + flag + " requires a value");
        }
        value = args[++i];
      }
      if (value.isEmpty()) {
        throw new UsageException("option " + flag + " requires a non-empty value");
      }
      switch (flag) {
        case "--emperor" -> dir = Path.of(value);
        case "--emperor-use-fork-server" -> socket = Path.of(value);
        case "--vassal-fork-base" -> bases.add(value);
        case "--binary-path" -> binary = value;
        case "--reload-mercy" -> mercy = seconds(flag, value);
        default -> throw new AssertionError(flag);
      }
    }
    if (!help && dir == null) {
      throw new UsageException("missing required option --emperor DIR");
    }
    return new CommandLine(Optional.ofNullable(dir), Optional.ofNullable(socket), List.copyOf(bases),
        Optional.ofNullable(binary), mercy, help);
  }

  private static Duration seconds(String flag, String value) throws UsageException {
    try {
      long s = Long.parseLong(value);
      if (s < 0) {
        throw new NumberFormatException();
      }
      return Duration.ofSeconds(s);
    } catch (NumberFormatException e) {
      throw new UsageException("option " + flag + " expects a number of seconds, got '" + value + "'");
    }
  }
}
