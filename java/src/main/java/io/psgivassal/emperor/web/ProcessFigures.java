package io.psgivassal.emperor.web;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** The Emperor's own threads, open descriptors and resident memory, from /proc/self. */
record ProcessFigures(long threads, long openFds, long residentBytes) {
  private static final Path SELF = Path.of("/proc/self");

  static ProcessFigures now() {
    long threads = -1;
    long rssKb = -1;
    try {
      for (String line : Files.readAllLines(SELF.resolve("status"))) {
        if (line.startsWith("Threads:")) {
          threads = Long.parseLong(line.substring(8).trim());
        } else if (line.startsWith("VmRSS:")) {
          rssKb = Long.parseLong(line.substring(6).replace("kB", "").trim());
        }
      }
    } catch (IOException | NumberFormatException e) {
      // no /proc: the figures stay unknown (-1)
    }
    long fds = 0;
    try (DirectoryStream<Path> d = Files.newDirectoryStream(SELF.resolve("fd"))) {
      for (Path ignored : d) {
        fds++;
      }
      fds--; // the directory stream's own descriptor
    } catch (IOException e) {
      fds = -1;
    }
    return new ProcessFigures(threads, fds, rssKb < 0 ? -1 : rssKb * 1024);
  }
}
