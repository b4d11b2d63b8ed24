package io.psgivassal.example;

import com.google.common.util.concurrent.MoreExecutors;
import com.google.common.util.concurrent.ServiceManager;
import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.ProgrammaticMonitor;
import io.psgivassal.emperor.api.VassalEvent;
import io.psgivassal.emperor.api.VassalSpec;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A Java program that hosts the Emperor as a library: one base vassal running the fork server
 * and two vassals adopted from it, all declared through the programmatic monitor, run inside a
 * Guava ServiceManager. Prints each vassal's URL when it accepts, fetches each once, and stops.
 *
 * <p>Usage: {@code HostExample PSGI_VASSAL APP.psgi WORKDIR}; exit status 0 when every vassal
 * answered 200.
 */
public final class HostExample {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: HostExample PSGI_VASSAL APP.psgi WORKDIR");
      System.exit(2);
    }
    String binary = args[0];
    Path app = Path.of(args[1]).toAbsolutePath();
    Path work = Path.of(args[2]).toAbsolutePath();
    Path forkSocket = work.resolve("fork.sock");

    // the base vassal reads its own file; the adopted ones get their config over the config pipe
    Path baseIni = Files.writeString(work.resolve("base.ini"),
        "[uwsgi]\nearly-psgi = " + app + "\nfork-server = " + forkSocket + "\n");
    Map<String, Integer> ports = new LinkedHashMap<>();
    ports.put("shop.ini", freePort());
    ports.put("blog.ini", freePort());

    ProgrammaticMonitor api = new ProgrammaticMonitor("host");
    Emperor emperor = Emperor.builder()
        .monitor(api)
        .binaryPath(binary)
        .forkServerSocket(forkSocket)
        .build();
    Map<String, String> accepting = new ConcurrentHashMap<>();
    emperor.addListener(event -> {
      if (event.type() == VassalEvent.Type.ACCEPTING && ports.containsKey(event.vassal())) {
        String url = "http://127.0.0.1:" + ports.get(event.vassal()) + "/";
        accepting.put(event.vassal(), url);
        System.out.println(event.vassal() + " (pid " + event.pid() + (event.adopted() ? ", adopted" : "")
            + ") accepting at " + url);
      }
    }, MoreExecutors.directExecutor());

    ServiceManager services = new ServiceManager(List.of(emperor));
    services.startAsync().awaitHealthy(60, TimeUnit.SECONDS);
    int failures = 0;
    try {
      api.add(VassalSpec.ofFile(baseIni).withStart(new VassalSpec.Plain()));
      for (Map.Entry<String, Integer> e : ports.entrySet()) {
        api.add(VassalSpec.ofText(e.getKey(),
            "[uwsgi]\nhttp-socket = 127.0.0.1:" + e.getValue() + "\nprocesses = 1\n"));
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (accepting.size() < ports.size() && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      for (Map.Entry<String, Integer> e : ports.entrySet()) {
        int status;
        try {
          status = get(e.getValue());
        } catch (Exception ex) {
          System.out.println(e.getKey() + ": " + ex);
          status = -1;
        }
        System.out.println("GET " + accepting.getOrDefault(e.getKey(), "(never accepting) port " + e.getValue())
            + " -> " + status);
        if (status != 200) {
          failures++;
        }
      }
      System.out.println("vassals: " + emperor.vassals().stream().map(v -> v.name() + "=" + v.pid()
          + (v.adopted() ? "(adopted)" : "")).toList());
    } finally {
      // stops every vassal; nothing of the Emperor's is left after this
      services.stopAsync().awaitStopped(90, TimeUnit.SECONDS);
    }
    System.out.println(failures == 0 ? "OK: every vassal answered 200" : "FAILED: " + failures + " vassal(s) did not answer 200");
    System.exit(failures == 0 ? 0 : 1);
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static int get(int port) throws Exception {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(20_000);
      OutputStream out = s.getOutputStream();
      out.write("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      String head = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
      return head.startsWith("HTTP/") ? Integer.parseInt(head.substring(9, 12)) : -1;
    }
  }
}
