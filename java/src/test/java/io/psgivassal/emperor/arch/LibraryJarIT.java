package io.psgivassal.emperor.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The library jar as a Maven user gets it: a named module with no logging binding nor logging
 * configuration of its own (the host brings those), while the CLI jar carries both.
 */
class LibraryJarIT {
  private static final Path TARGET = Path.of(System.getProperty("project.root", ".")).resolve("target");

  private static Path libraryJar() throws IOException {
    try (Stream<Path> files = Files.list(TARGET)) {
      List<Path> jars = files.filter(p -> p.getFileName().toString().matches("emperor-[0-9].*(?<!-sources|-javadoc)\\.jar"))
          .toList();
      assertEquals(1, jars.size(), "one library jar in " + TARGET + ": " + jars);
      return jars.get(0);
    }
  }

  private static List<String> entries(Path jar) throws IOException {
    try (JarFile j = new JarFile(jar.toFile())) {
      return j.stream().map(e -> e.getName()).toList();
    }
  }

  @Test
  void theLibraryJarBindsNoLoggerAndTheCliJarDoes() throws IOException {
    List<String> library = entries(libraryJar());
    assertTrue(library.contains("module-info.class"), "the library is a named module");
    assertTrue(library.contains("META-INF/services/io.psgivassal.emperor.api.EngineProvider"),
        "the engine is found on the class path too");
    assertEquals(List.of(), library.stream().filter(n -> n.startsWith("org/") || n.contains("simplelogger")).toList(),
        "no binding, no logging configuration, nothing shaded in the library jar");

    List<String> cli = entries(TARGET.resolve("emperor.jar"));
    assertTrue(cli.contains("org/slf4j/simple/SimpleLogger.class"), "the CLI jar has its binding");
    assertTrue(cli.contains("com/sun/jna/Native.class"), "the CLI jar runs on its own");
    assertTrue(!cli.contains("module-info.class"), "the CLI jar is a class-path jar");
  }
}
