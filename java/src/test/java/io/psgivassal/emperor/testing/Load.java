package io.psgivassal.emperor.testing;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Clients that keep asking one port for GET / on a new connection per request, as long as the
 * test runs (bounded: they stop by themselves after {@code max}), counting every request that did
 * not end in a 200 and the answers by their first line, so a test can say what was served.
 */
public final class Load implements AutoCloseable {
  private final int port;
  private final List<Thread> threads = new ArrayList<>();
  private final AtomicLong ok = new AtomicLong();
  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final List<java.time.Instant> failedAt = new CopyOnWriteArrayList<>();
  private final Map<String, AtomicLong> bodies = new ConcurrentHashMap<>();
  private final long deadline;
  private volatile boolean stop;
  private volatile String lastBody = "";

  private Load(int port, int clients, Duration max) {
    this.port = port;
    this.deadline = System.nanoTime() + max.toNanos();
    for (int i = 0; i < clients; i++) {
      Thread t = new Thread(this::run, "load-" + port + "-" + i);
      t.setDaemon(true);
      threads.add(t);
    }
    threads.forEach(Thread::start);
  }

  /** {@code clients} threads against 127.0.0.1:{@code port} for at most two minutes. */
  public static Load start(int port, int clients) {
    return new Load(port, clients, Duration.ofMinutes(2));
  }

  private void run() {
    while (!stop && System.nanoTime() < deadline) {
      try {
        Http.Response r = Http.get(port, "/", Duration.ofSeconds(30));
        if (r.status() == 200) {
          ok.incrementAndGet();
          String line = r.body().lines().findFirst().orElse("");
          String key = line.replaceAll(" pid \\d+", "");
          bodies.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
          lastBody = line;
        } else {
          failed("status " + r.status());
        }
      } catch (IOException e) {
        failed(e.toString());
      }
    }
  }

  private void failed(String why) {
    failedAt.add(java.time.Instant.now());
    failures.add(why);
  }

  /** How many requests failed before {@code t}. */
  public long failuresBefore(java.time.Instant t) {
    return failedAt.stream().filter(at -> at.isBefore(t)).count();
  }

  public long ok() {
    return ok.get();
  }

  public List<String> failures() {
    return List.copyOf(failures);
  }

  /** Answers by first line, without its pid. */
  public Map<String, Long> served() {
    Map<String, Long> out = new java.util.TreeMap<>();
    bodies.forEach((k, v) -> out.put(k, v.get()));
    return out;
  }

  /** Waits until at least {@code n} more requests succeeded (so the load really runs). */
  public void awaitMore(long n, Duration max) throws InterruptedException {
    long target = ok.get() + n;
    Await.until(n + " more answers on port " + port, max, () -> ok.get() >= target);
  }

  /** Stops the clients and waits for their last requests. */
  @Override
  public void close() throws InterruptedException {
    stop = true;
    for (Thread t : threads) {
      t.join(60_000);
    }
  }
}
