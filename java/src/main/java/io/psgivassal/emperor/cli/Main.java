package io.psgivassal.emperor.cli;

import io.psgivassal.emperor.api.Defaults;
import io.psgivassal.emperor.api.DirectoryMonitor;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.fleet.FleetCommand;
import io.psgivassal.emperor.fleet.FleetMonitor;
import io.psgivassal.emperor.pg.PgQueryMonitor;
import io.psgivassal.emperor.web.WebDashboard;
import java.io.PrintStream;
import java.nio.file.Files;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code java -jar emperor.jar --emperor DIR|GLOB ...}: runs an Emperor until SIGTERM/SIGINT, then exits 0. */
public final class Main {
  static final int EXIT_OK = 0;
  static final int EXIT_FAILED = 1;
  static final int EXIT_USAGE = 2;

  private Main() {}

  public static void main(String[] args) {
    LogFormat.apply();
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length > 0 && args[0].equals("fleet")) {
      return FleetCommand.run(java.util.Arrays.copyOfRange(args, 1, args.length), out, err);
    }
    CommandLine cl;
    try {
      cl = CommandLine.parse(args);
    } catch (CommandLine.UsageException e) {
      err.println("emperor: " + e.getMessage() + " (try --help)");
      return EXIT_USAGE;
    }
    if (cl.help()) {
      out.println(CommandLine.USAGE);
      return EXIT_OK;
    }
    if (cl.version()) {
      out.println("psgi-vassal-emperor " + Emperor.version());
      return EXIT_OK;
    }
    Emperor emperor;
    try {
      emperor = build(cl);
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println("emperor: " + e.getMessage());
      return EXIT_USAGE;
    }
    WebDashboard web = null;
    if (cl.web().isPresent()) {
      try {
        web = WebDashboard.start(emperor, cl.web().get(), cl.webTokenFile());
      } catch (IllegalArgumentException e) {
        err.println("emperor: " + e.getMessage());
        return EXIT_USAGE;
      }
    } else if (cl.webTokenFile().isPresent()) {
      err.println("emperor: --emperor-web-token-file needs --emperor-web HOST:PORT");
      return EXIT_USAGE;
    }
    try {
      return serve(emperor, err);
    } finally {
      if (web != null) {
        web.close();
      }
    }
  }

  /** @throws IllegalArgumentException naming the flag whose value cannot work */
  static Emperor build(CommandLine cl) {
    Emperor.Builder b = Emperor.builder()
        .binaryPath(cl.binaryPath().orElse(Defaults.BINARY))
        .forkBases(cl.forkBases())
        .reloadMercy(cl.reloadMercy())
        .gracefulShutdown(cl.gracefulShutdown())
        .deployBatch(cl.deployBatch())
        .deployAdopted(!cl.deployBaseOnly())
        .throttle(cl.throttle())
        .maxThrottle(cl.maxThrottle())
        .heartbeat(cl.heartbeat())
        .hookTimeout(cl.hookTimeout())
        .rescanInterval(cl.rescanInterval());
    cl.holdSockets().ifPresent(b::holdSockets);
    for (String arg : cl.emperor()) {
      try {
        b.monitor(arg.startsWith("pg://") ? pgMonitor(arg, cl) : DirectoryMonitor.of(arg));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--emperor " + e.getMessage(), e);
      }
    }
    if (cl.pgListen().isPresent() && cl.emperor().stream().noneMatch(a -> a.startsWith("pg://"))) {
      throw new IllegalArgumentException("--emperor-pg-listen needs an --emperor pg://CONNINFO;QUERY monitor");
    }
    if (cl.fleet().isPresent()) {
      try {
        b.monitor(new FleetMonitor(cl.fleet().get(), cl.emperorName().orElseGet(FleetMonitor::defaultName),
            cl.capacity(), cl.fleetLease()));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--emperor-fleet " + e.getMessage(), e);
      }
    }
    cl.forkServerSocket().ifPresent(b::forkServerSocket);
    cl.forkServerAttr().ifPresent(b::forkServerAttribute);
    cl.collectAttrs().forEach(b::collectAttribute);
    cl.onDemandExtension().ifPresent(b::onDemandExtension);
    if (cl.onDemandDirectory().isPresent()) {
      if (!Files.isDirectory(cl.onDemandDirectory().get())) {
        throw new IllegalArgumentException("--emperor-on-demand-directory " + cl.onDemandDirectory().get() + " is not a directory");
      }
      b.onDemandDirectory(cl.onDemandDirectory().get());
    }
    cl.startHook().ifPresent(b::startHook);
    cl.stopHook().ifPresent(b::stopHook);
    if (cl.stats().isPresent()) {
      try {
        b.stats(cl.stats().get());
        io.psgivassal.emperor.api.ListenAddress.parse(cl.stats().get());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--emperor-stats " + e.getMessage(), e);
      }
    }
    try {
      Emperor built = b.build();
      fleetMonitors(built).forEach(f -> f.observe(built));
      return built;
    } catch (IllegalArgumentException e) {
      String m = e.getMessage();
      throw new IllegalArgumentException(m.startsWith("binary ") ? "--binary-path: " + m : m, e);
    }
  }

  private static PgQueryMonitor pgMonitor(String arg, CommandLine cl) {
    PgQueryMonitor m = PgQueryMonitor.of(arg);
    return cl.pgListen().map(m::listening).orElse(m);
  }

  private static java.util.List<FleetMonitor> fleetMonitors(Emperor e) {
    return e.monitors().stream().filter(FleetMonitor.class::isInstance).map(FleetMonitor.class::cast).toList();
  }

  /**
   * Runs until the service ends. SIGTERM/SIGINT stop it and the CLI exits 0, and SIGHUP reloads
   * every vassal, as uWSGI's Emperor does; the shutdown hook still covers any other way the JVM is
   * told to exit.
   */
  private static int serve(Emperor emperor, PrintStream err) {
    Logger log = LoggerFactory.getLogger(Main.class);
    for (String name : new String[] {"TERM", "INT"}) {
      onSignal(log, name, "stops the Emperor", () -> {
        log.info("SIG{} received: stopping the Emperor", name);
        emperor.stopAsync();
      });
    }
    onSignal(log, "HUP", "reloads every vassal", () -> {
      log.info("SIGHUP received: reloading every vassal");
      emperor.reloadAll().whenComplete((n, failed) -> {
        if (failed != null) {
          log.info("SIGHUP: nothing reloaded ({})", failed.getMessage());
        } else {
          log.info("SIGHUP: {} vassal(s) reloading", n);
        }
      });
    });
    Thread hook = new Thread(() -> {
      log.info("JVM exiting: stopping the Emperor");
      emperor.stopAsync().awaitTerminated();
    }, "emperor-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      emperor.startAsync().awaitTerminated();
      for (FleetMonitor f : fleetMonitors(emperor)) {
        // the other Emperors take this one's vassals at once, not after its lease
        f.awaitReleased(java.time.Duration.ofSeconds(30));
      }
      return EXIT_OK;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return EXIT_OK;
    } catch (IllegalStateException e) {
      Throwable cause = emperor.failureCause();
      if (cause instanceof IllegalStateException || cause instanceof IllegalArgumentException) {
        log.debug("Emperor failed", cause); // a setting that cannot work: the message says which
      } else {
        log.error("Emperor failed", cause);
      }
      err.println("emperor: " + cause.getMessage());
      return EXIT_FAILED;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it owns the shutdown now
      }
    }
  }


  /**
   * The JVM's default for SIGTERM/SIGINT/SIGHUP is to run shutdown hooks and exit 143/130/129,
   * which process supervisors read as a failure; handling them lets an orderly stop end with
   * status 0 and SIGHUP reload. A signal this process inherited as ignored (SIGINT of a job a
   * script started with &, SIGHUP under nohup) stays ignored, as the JVM leaves it: say so, since
   * Ctrl-C then never reaches the Emperor.
   */
  @SuppressWarnings("sunapi")
  private static void onSignal(Logger log, String name, String what, Runnable action) {
    sun.misc.SignalHandler previous = sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> action.run());
    if (previous == sun.misc.SignalHandler.SIG_IGN) {
      log.info("SIG{} is ignored in this process (inherited from the one that started it): it never {}", name, what);
    }
  }
}
