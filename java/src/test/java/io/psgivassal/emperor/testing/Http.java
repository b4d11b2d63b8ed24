package io.psgivassal.emperor.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A bare HTTP/1.0 GET over TCP or a UNIX socket, on the calling thread (java.net.http starts
 * threads of its own, which would blur the thread-count tests).
 */
public final class Http {
  private static final Pattern HELLO = Pattern.compile("Hello from pid (\\d+)\\s*");

  private Http() {}

  public record Response(int status, String body) {
    /** The worker pid hello.psgi reports. */
    public int helloPid() {
      Matcher m = HELLO.matcher(body);
      if (!m.matches()) {
        throw new AssertionError("not a hello.psgi body: " + body);
      }
      return Integer.parseInt(m.group(1));
    }
  }

  public static Response get(int port, String path, Duration timeout) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), (int) timeout.toMillis());
      s.setSoTimeout((int) timeout.toMillis());
      OutputStream out = s.getOutputStream();
      out.write(request(path));
      out.flush();
      return parse(s.getInputStream().readAllBytes());
    }
  }

  /** Whether nothing answers on 127.0.0.1:{@code port} (refused, reset or silent for 2 s). */
  public static boolean refused(int port) {
    try {
      get(port, "/", Duration.ofSeconds(2));
      return false;
    } catch (IOException e) {
      return true;
    }
  }

  public static Response get(int port) throws IOException {
    return get(port, "/", Duration.ofSeconds(20));
  }

  /** GET over a UNIX socket; a blocking channel (no read timeout: keep the server side bounded). */
  public static Response getUnix(Path socket, String path) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ch.write(ByteBuffer.wrap(request(path)));
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      try (InputStream in = java.nio.channels.Channels.newInputStream(ch)) {
        in.transferTo(all);
      }
      return parse(all.toByteArray());
    }
  }

  /** Tries until it gets a 200 or the time is up; returns the last answer or throws the last error. */
  public static Response await200(int port, Duration max) throws Exception {
    long deadline = System.nanoTime() + max.toNanos();
    Exception last = null;
    while (System.nanoTime() < deadline) {
      try {
        Response r = get(port, "/", Duration.ofSeconds(10));
        if (r.status() == 200) {
          return r;
        }
      } catch (IOException e) {
        last = e;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no 200 from 127.0.0.1:" + port + " within " + max.toSeconds() + " s", last);
  }

  /** Asks until an answer's body contains {@code text} (a refused or failed request counts as no). */
  public static void awaitBody(int port, String text, Duration max) throws InterruptedException {
    Await.until("'" + text + "' from port " + port, max, () -> {
      try {
        return get(port, "/", Duration.ofSeconds(10)).body().contains(text);
      } catch (IOException e) {
        return false;
      }
    });
  }

  private static byte[] request(String path) {
    return ("GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
  }

  private static Response parse(byte[] raw) throws IOException {
    String text = new String(raw, StandardCharsets.ISO_8859_1);
    int end = text.indexOf("\r\n\r\n");
    if (!text.startsWith("HTTP/") || end < 0) {
      throw new IOException("not an HTTP response: " + text);
    }
    int status = Integer.parseInt(text.substring(9, 12));
    return new Response(status, new String(raw, end + 4, raw.length - end - 4, StandardCharsets.UTF_8));
  }
}
