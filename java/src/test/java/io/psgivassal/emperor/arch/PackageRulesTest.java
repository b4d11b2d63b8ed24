package io.psgivassal.emperor.arch;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The package rules a host program relies on: the API in one package that leans on nothing of the
 * engine, no package cycles, and the CLI (like any host) and the web dashboard add-on using the API
 * only.
 */
class PackageRulesTest {
  private static final String ROOT = "io.psgivassal.emperor";
  private static final String API = ROOT + ".api";
  private static final String WEB = ROOT + ".web";
  private static final String STATS = ROOT + ".stats";
  private static JavaClasses main;

  @BeforeAll
  static void importMainClasses() {
    main = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages(ROOT);
  }

  @Test
  void noPackageCycles() {
    slices().matching(ROOT + ".(*)..").should().beFreeOfCycles().check(main);
  }

  @Test
  void theApiLeansOnNoOtherPackageOfOurs() {
    noClasses().that().resideInAPackage(API).should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAPackage(API))))
        .check(main);
  }

  /**
   * The CLI is a host like any other: it uses the API, plus the web dashboard add-on, which it
   * starts for --emperor-web. That is deliberate: the dashboard is an add-on of its own on top of
   * the API (see {@link #theWebDashboardUsesTheApiOnly}), so the CLI still reaches the engine
   * through the API only; putting an entry point for it in the API would make the API lean on it.
   */
  @Test
  void theCliUsesTheApiOnly() {
    noClasses().that().resideInAPackage(ROOT + ".cli..").should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAnyPackage(API, WEB, ROOT + ".cli.."))))
        .check(main);
  }

  /**
   * The web dashboard is an add-on over the API, as a host program could write it: the Emperor's
   * snapshots, events and actions through {@code api.Emperor}; besides, the stats JSON writer
   * ({@code stats}, itself API-only) so that {@code /api/status} is the stats socket's document byte
   * for byte. Never the engine, the natives or the fork-server client.
   */
  @Test
  void theWebDashboardUsesTheApiOnly() {
    noClasses().that().resideInAPackage(WEB + "..").should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAnyPackage(API, STATS, WEB + ".."))))
        .check(main);
  }

  /** What the dashboard borrows from {@code stats} leans on the API only, so web and stats make no way into the engine. */
  @Test
  void theStatsJsonUsesTheApiOnly() {
    noClasses().that().resideInAPackage(STATS + "..").should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAnyPackage(API, STATS + ".."))))
        .check(main);
  }

  /** The example host program is built apart (integration/java-host): its sources must import the API only. */
  @Test
  void theExampleHostImportsTheApiOnly() throws IOException {
    Path sources = Path.of("integration/java-host/src");
    List<String> imports;
    try (Stream<Path> files = Files.walk(sources)) {
      imports = files.filter(f -> f.toString().endsWith(".java")).flatMap(PackageRulesTest::lines)
          .filter(l -> l.startsWith("import " + ROOT + ".")).toList();
    }
    assertFalse(imports.isEmpty(), "the example host uses the Emperor");
    assertEquals(List.of(), imports.stream().filter(l -> !l.startsWith("import " + API + ".")).toList());
  }

  private static Stream<String> lines(Path f) {
    try {
      return Files.readAllLines(f).stream();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
