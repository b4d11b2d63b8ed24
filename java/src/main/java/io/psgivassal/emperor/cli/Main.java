package io.psgivassal.emperor.cli;

import io.psgivassal.emperor.core.Emperor;
import io.psgivassal.emperor.monitor.DirectoryMonitor;
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
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
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
    Emperor emperor;
    try {
      emperor = build(cl);
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println("emperor: " + e.getMessage());
      return EXIT_USAGE;
    }
    io.psgivassal.emperor.web.WebDashboard web = null;
    if (cl.web().isPresent()) {
      try {
        web = io.psgivassal.emperor.web.WebDashboard.start(emperor, cl.web().get(), cl.webTokenFile());
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
        .binaryPath(cl.binaryPath().orElse("psgi-vassal"))
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
        b.monitor(DirectoryMonitor.of(arg));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--emperor " + e.getMessage(), e);
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
        io.psgivassal.emperor.core.ListenAddress.parse(cl.stats().get());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--emperor-stats " + e.getMessage(), e);
      }
    }
    try {
      return b.build();
    } catch (IllegalArgumentException e) {
      String m = e.getMessage();
      throw new IllegalArgumentException(m.startsWith("binary ") ? "--binary-path: " + m : m, e);
    }
  }

  /**
   * Runs until the service ends. SIGTERM/SIGINT stop it and the CLI exits 0, as uWSGI's Emperor
   * does; the shutdown hook still covers any other way the JVM is told to exit.
   */
  private static int serve(Emperor emperor, PrintStream err) {
    Logger log = LoggerFactory.getLogger(Main.class);
    onStopSignals(name -> {
      log.info("SIG{} received: stopping the Emperor", name);
      emperor.stopAsync();
    });
    Thread hook = new Thread(() -> {
      log.info("JVM exiting: stopping the Emperor");
      emperor.stopAsync().awaitTerminated();
    }, "emperor-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      emperor.startAsync().awaitTerminated();
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
   * The JVM's default for SIGTERM/SIGINT is to run shutdown hooks and exit 143/130, which process
   * supervisors read as a failure; handling the signals lets an orderly stop end with status 0.
   */
  @SuppressWarnings("sunapi")
  private static void onStopSignals(java.util.function.Consumer<String> stop) {
    for (String name : new String[] {"TERM", "INT"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> stop.accept(sig.getName()));
    }
  }
}
