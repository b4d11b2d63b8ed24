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

  /**
   * What a Maven user's build pulls in with the library (the pom inside the jar, as published):
   * SLF4J's API (no binding), Guava, JNA and Commons Exec; the add-ons' libraries are optional.
   */
  @Test
  void theLibraryPomRequiresOnlyWhatAHostExpects() throws IOException {
    String pom;
    try (JarFile j = new JarFile(libraryJar().toFile())) {
      pom = new String(j.getInputStream(j.getEntry("META-INF/maven/io.psgivassal/emperor/pom.xml")).readAllBytes(),
          java.nio.charset.StandardCharsets.UTF_8);
    }
    // the project's own dependencies: not the imported BOMs, not the plugins'
    pom = pom.replaceAll("(?s)<dependencyManagement>.*?</dependencyManagement>|<build>.*</build>", "");
    String dependencies = pom.substring(pom.indexOf("<dependencies>"), pom.indexOf("</dependencies>"));
    List<String> required = java.util.regex.Pattern.compile("(?s)<dependency>(.*?)</dependency>").matcher(dependencies)
        .results().map(m -> m.group(1))
        .filter(d -> !d.contains("<optional>true</optional>") && !d.matches("(?s).*<scope>(test|provided|runtime)</scope>.*"))
        .map(d -> d.replaceAll("(?s).*<artifactId>([^<]+)</artifactId>.*", "$1")).sorted().toList();
    assertEquals(List.of("commons-exec", "guava", "jna", "slf4j-api"), required);
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
    assertTrue(cli.contains("org/postgresql/Driver.class"), "the CLI jar has the pg add-on's driver");
    assertTrue(cli.contains("io/prometheus/metrics/core/metrics/Gauge.class"), "the CLI jar has the web add-on's metrics");
    assertTrue(!cli.contains("module-info.class"), "the CLI jar is a class-path jar");
  }
}
