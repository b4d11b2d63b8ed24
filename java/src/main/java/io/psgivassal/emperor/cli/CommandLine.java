package io.psgivassal.emperor.cli;

import io.psgivassal.emperor.api.Defaults;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The uWSGI-style flags the CLI understands, parsed strictly: an unknown or malformed flag is an error. */
record CommandLine(
    List<String> emperor,
    Optional<Path> forkServerSocket,
    List<String> forkBases,
    Optional<String> binaryPath,
    Optional<String> stats,
    Duration throttle,
    Duration maxThrottle,
    Duration heartbeat,
    Duration reloadMercy,
    boolean gracefulShutdown,
    Optional<Boolean> holdSockets,
    int deployBatch,
    boolean deployBaseOnly,
    Optional<String> onDemandExtension,
    Optional<Path> onDemandDirectory,
    Optional<String> forkServerAttr,
    List<String> collectAttrs,
    Optional<String> startHook,
    Optional<String> stopHook,
    Duration hookTimeout,
    Duration rescanInterval,
    Optional<String> web,
    Optional<Path> webTokenFile,
    boolean help,
    Optional<String> pgListen,
    Optional<String> fleet,
    Optional<String> emperorName,
    int capacity,
    Duration fleetLease,
    boolean version) {

  /** How a flag's value is read. */
  private enum Kind { TEXT, MILLIS, SECONDS, COUNT, SWITCH }

  private record Flag(String name, Kind kind, String arg, String help, List<String> aliases) {}

  private static final List<Flag> FLAGS = List.of(
      new Flag("--emperor", Kind.TEXT, "DIR|GLOB",
          "vassal configs: every *" + String.join("/", Defaults.configExtensions()) + " in DIR, or the files matching GLOB (e.g. 'dir/*.ini'),"
          + " or the rows of 'pg://CONNINFO;QUERY' (name, config, ts); repeatable", List.of()),
      // issue 14: PostgreSQL (io.psgivassal.emperor.pg and .fleet)
      new Flag("--emperor-pg-listen", Kind.TEXT, "CHANNEL", "pg:// monitors also LISTEN on CHANNEL and re-run their query at once on every NOTIFY", List.of()),
      new Flag("--emperor-fleet", Kind.TEXT, "pg://CONNINFO", "join the fleet of Emperors sharing this PostgreSQL database (schema created if missing)", List.of()),
      new Flag("--emperor-name", Kind.TEXT, "NAME", "this Emperor's name in the fleet (default: the host name)", List.of()),
      new Flag("--emperor-capacity", Kind.COUNT, "N", "run at most N of the fleet's vassals (default " + Defaults.FLEET_CAPACITY + ")", List.of()),
      new Flag("--emperor-fleet-lease", Kind.SECONDS, "SECONDS", "a fleet Emperor silent this long loses its vassals to the others (default " + Defaults.FLEET_LEASE.toSeconds() + ")", List.of()),
      new Flag("--emperor-use-fork-server", Kind.TEXT, "SOCKET", "adopt vassals from the fork server listening on SOCKET", List.of()),
      new Flag("--vassal-fork-base", Kind.TEXT, "NAME", "spawn this vassal (a config file name) with posix_spawn instead; it runs the fork server; repeatable", List.of()),
      new Flag("--binary-path", Kind.TEXT, "PATH", "the vassal program (default: " + Defaults.BINARY + " from PATH)", List.of()),
      new Flag("--emperor-stats", Kind.TEXT, "ADDR", "serve the Emperor stats JSON on ADDR: host:port (TCP) or a UNIX socket path", List.of("--emperor-stats-server")),
      new Flag("--emperor-throttle", Kind.MILLIS, "MS", "blacklist throttle step for vassals that die before they are loyal (default " + Defaults.THROTTLE.toMillis() + ")", List.of()),
      new Flag("--emperor-max-throttle", Kind.MILLIS, "MS", "largest blacklist throttle (default " + Defaults.MAX_THROTTLE.toMillis() + ")", List.of()),
      new Flag("--emperor-heartbeat", Kind.SECONDS, "SECONDS", "kill and respawn a vassal silent this long after its first heartbeat (default " + Defaults.HEARTBEAT.toSeconds() + ", 0: never)", List.of("--emperor-required-heartbeat")),
      new Flag("--reload-mercy", Kind.SECONDS, "SECONDS", "how long a stopping vassal may take before SIGKILL (default " + Defaults.RELOAD_MERCY.toSeconds() + ")", List.of()),
      new Flag("--emperor-graceful-shutdown", Kind.SWITCH, "", "stop vassals with byte 2 (finish in-flight requests) instead of 0", List.of()),
      new Flag("--emperor-no-held-sockets", Kind.SWITCH, "", "let each vassal bind its own socket instead of the Emperor holding it across generations (the default for binaries other than psgi-vassal)", List.of()),
      new Flag("--emperor-hold-sockets", Kind.SWITCH, "", "hold vassal sockets whatever the binary (a uWSGI vassal must then name them fd://0)", List.of()),
      new Flag("--emperor-deploy-batch", Kind.COUNT, "N", "a deploy (a changed base config) moves this many adopted vassals to the new base at a time (default " + Defaults.DEPLOY_BATCH + ")", List.of()),
      new Flag("--emperor-deploy-base-only", Kind.SWITCH, "", "a changed base config restarts only the base, as uWSGI does; its vassals keep the old code", List.of()),
      new Flag("--emperor-on-demand-extension", Kind.TEXT, "EXT", "on-demand vassals: the file CONFIG+EXT (e.g. app.ini.socket for EXT .socket) holds the socket address", List.of("--emperor-on-demand-ext")),
      new Flag("--emperor-on-demand-directory", Kind.TEXT, "DIR", "on-demand vassals: the socket is DIR/NAME.socket (NAME: config name without extension)", List.of("--emperor-on-demand-dir")),
      new Flag("--emperor-fork-server-attr", Kind.TEXT, "NAME", "a vassal whose config has NAME = SOCKET in its [emperor] section is adopted from that fork server", List.of()),
      new Flag("--emperor-collect-attr", Kind.TEXT, "NAME", "collect this [emperor] key as a vassal attribute (shown in stats); repeatable", List.of("--emperor-collect-attribute")),
      new Flag("--vassals-start-hook", Kind.TEXT, "CMD", "run CMD NAME before each vassal starts (UWSGI_VASSAL_CONFIG, UWSGI_VASSAL_PID set)", List.of()),
      new Flag("--vassals-stop-hook", Kind.TEXT, "CMD", "run CMD NAME after each vassal dies (UWSGI_VASSAL_CONFIG, UWSGI_VASSAL_PID set)", List.of()),
      new Flag("--vassals-hook-timeout", Kind.SECONDS, "SECONDS", "kill a hook that runs longer (default " + Defaults.HOOK_TIMEOUT.toSeconds() + ")", List.of()),
      new Flag("--emperor-freq", Kind.SECONDS, "SECONDS", "rescan the monitored directories this often, besides file-system notifications (default " + Defaults.RESCAN_INTERVAL.toSeconds() + ")", List.of()),
      new Flag("--emperor-web", Kind.TEXT, "HOST:PORT", "serve the web dashboard, /api/status and /metrics there (plain HTTP: 127.0.0.1 or behind a proxy; default " + Defaults.WEB.orElse("off") + ")", List.of()),
      new Flag("--emperor-web-token-file", Kind.TEXT, "FILE", "the dashboard's actions (reload, stop, start, deploy) need the token in FILE; without it they are refused (default " + Defaults.WEB_TOKEN_FILE.map(Path::toString).orElse("none: read-only") + ")", List.of()));

  static final String USAGE = usage();

  private static String usage() {
    StringBuilder b = new StringBuilder("usage: emperor --emperor DIR|GLOB [options]\n"
        + "       emperor fleet add|remove|list|drain --fleet URL ...   (emperor fleet --help)\n");
    for (Flag f : FLAGS) {
      String left = "  " + f.name() + (f.arg().isEmpty() ? "" : " " + f.arg());
      b.append(String.format("%-44s %s%n", left, f.help()));
      for (String a : f.aliases()) {
        b.append(String.format("%-44s %s%n", "  " + a + (f.arg().isEmpty() ? "" : " " + f.arg()), "same as " + f.name()));
      }
    }
    b.append(String.format("%-44s %s%n", "  --version", "print the version and exit"));
    b.append(String.format("%-44s %s", "  --help", "this text"));
    return b.toString();
  }

  /** A flag that is unknown, lacks its value, or has a malformed one. */
  static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  private static Flag find(String name) {
    for (Flag f : FLAGS) {
      if (f.name().equals(name) || f.aliases().contains(name)) {
        return f;
      }
    }
    return null;
  }

  static CommandLine parse(String[] args) throws UsageException {
    Map<String, List<String>> values = new LinkedHashMap<>();
    boolean help = false;
    boolean version = false;
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
      if (flag.equals("--version")) {
        version = true;
        continue;
      }
      Flag f = find(flag);
      if (f == null) {
        throw new UsageException("unknown option " + args[i]);
      }
      if (f.kind() == Kind.SWITCH) {
        if (value != null && !value.matches("(?i)1|0|true|false|yes|no|on|off")) {
          throw new UsageException("option " + flag + " takes no value (or true/false), got '" + value + "'");
        }
        values.computeIfAbsent(f.name(), k -> new ArrayList<>())
            .add(value == null || value.matches("(?i)1|true|yes|on") ? "true" : "false");
        continue;
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
      switch (f.kind()) {
        case MILLIS -> number(flag, value, "milliseconds");
        case SECONDS -> number(flag, value, "seconds");
        case COUNT -> {
          number(flag, value, "vassals");
          if (Long.parseLong(value) < 1 || Long.parseLong(value) > 100_000) {
            throw new UsageException("option " + flag + " expects 1 to 100000, got '" + value + "'");
          }
        }
        default -> { }
      }
      values.computeIfAbsent(f.name(), k -> new ArrayList<>()).add(value);
    }
    if (!help && !version && !values.containsKey("--emperor") && !values.containsKey("--emperor-fleet")) {
      throw new UsageException("missing required option --emperor DIR");
    }
    return new CommandLine(
        all(values, "--emperor"),
        last(values, "--emperor-use-fork-server").map(Path::of),
        all(values, "--vassal-fork-base"),
        last(values, "--binary-path"),
        last(values, "--emperor-stats"),
        last(values, "--emperor-throttle").map(v -> Duration.ofMillis(Long.parseLong(v))).orElse(Defaults.THROTTLE),
        last(values, "--emperor-max-throttle").map(v -> Duration.ofMillis(Long.parseLong(v))).orElse(Defaults.MAX_THROTTLE),
        seconds(values, "--emperor-heartbeat", Defaults.HEARTBEAT),
        seconds(values, "--reload-mercy", Defaults.RELOAD_MERCY),
        last(values, "--emperor-graceful-shutdown").map(Boolean::parseBoolean).orElse(false),
        last(values, "--emperor-hold-sockets").map(Boolean::parseBoolean)
            .or(() -> last(values, "--emperor-no-held-sockets").map(v -> !Boolean.parseBoolean(v))),
        last(values, "--emperor-deploy-batch").map(Integer::parseInt).orElse(Defaults.DEPLOY_BATCH),
        last(values, "--emperor-deploy-base-only").map(Boolean::parseBoolean).orElse(false),
        last(values, "--emperor-on-demand-extension"),
        last(values, "--emperor-on-demand-directory").map(Path::of),
        last(values, "--emperor-fork-server-attr"),
        all(values, "--emperor-collect-attr"),
        last(values, "--vassals-start-hook"),
        last(values, "--vassals-stop-hook"),
        seconds(values, "--vassals-hook-timeout", Defaults.HOOK_TIMEOUT),
        seconds(values, "--emperor-freq", Defaults.RESCAN_INTERVAL),
        last(values, "--emperor-web").or(() -> Defaults.WEB),
        last(values, "--emperor-web-token-file").map(Path::of).or(() -> Defaults.WEB_TOKEN_FILE),
        help,
        last(values, "--emperor-pg-listen"),
        last(values, "--emperor-fleet"),
        last(values, "--emperor-name"),
        last(values, "--emperor-capacity").map(Integer::parseInt).orElse(Defaults.FLEET_CAPACITY),
        seconds(values, "--emperor-fleet-lease", Defaults.FLEET_LEASE),
        version);
  }

  private static List<String> all(Map<String, List<String>> values, String flag) {
    return List.copyOf(values.getOrDefault(flag, List.of()));
  }

  private static Optional<String> last(Map<String, List<String>> values, String flag) {
    List<String> v = values.get(flag);
    return v == null ? Optional.empty() : Optional.of(v.get(v.size() - 1));
  }

  private static Duration seconds(Map<String, List<String>> values, String flag, Duration dflt) {
    return last(values, flag).map(v -> Duration.ofSeconds(Long.parseLong(v))).orElse(dflt);
  }

  private static void number(String flag, String value, String unit) throws UsageException {
    try {
      long n = Long.parseLong(value);
      if (n < 0) {
        throw new NumberFormatException();
      }
    } catch (NumberFormatException e) {
      throw new UsageException("option " + flag + " expects a number of " + unit + ", got '" + value + "'");
    }
  }
}
