package io.psgivassal.emperor.cli;

import io.psgivassal.emperor.core.Emperor;
import java.io.PrintStream;
import java.nio.file.Files;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code java -jar emperor.jar --emperor DIR ...}: runs an Emperor until SIGTERM/SIGINT. */
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
    if (!Files.isDirectory(cl.emperorDir().orElseThrow())) {
      err.println("emperor: --emperor " + cl.emperorDir().get() + " is not a directory");
      return EXIT_USAGE;
    }
    Emperor emperor;
    try {
      Emperor.Builder b = Emperor.builder()
          .vassalDirectory(cl.emperorDir().get())
          .binaryPath(cl.binaryPath().orElse("psgi-vassal"))
          .forkBases(cl.forkBases())
          .reloadMercy(cl.reloadMercy());
      cl.forkServerSocket().ifPresent(b::forkServerSocket);
      emperor = b.build();
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println("emperor: " + e.getMessage());
      return EXIT_USAGE;
    }
    return serve(emperor);
  }

  /**
   * Runs until the service ends. SIGTERM/SIGINT stop it and the CLI exits 0, as uWSGI's Emperor
   * does; the shutdown hook still covers any other way the JVM is told to exit.
   */
  private static int serve(Emperor emperor) {
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
      log.error("Emperor failed", emperor.failureCause());
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
