package io.psgivassal.emperor.core;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Where a program named on the command line is. */
final class Binaries {
  private Binaries() {}

  /** posix_spawn does no PATH search, and argv[0] must be the same string the fork server gets. */
  static String resolve(String binary, Map<String, String> env) {
    if (binary.contains("/")) {
      return Path.of(binary).toAbsolutePath().normalize().toString();
    }
    for (String dir : env.getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin").split(File.pathSeparator)) {
      Path candidate = Path.of(dir.isEmpty() ? "." : dir, binary);
      if (Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
        return candidate.toAbsolutePath().normalize().toString();
      }
    }
    throw new IllegalArgumentException("binary " + binary + " not found in PATH");
  }
}
