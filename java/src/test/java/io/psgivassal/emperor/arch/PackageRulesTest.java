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
  private static final String STATS = ROOT + ".stats";
  /**
   * Add-ons: optional parts built on the API alone, as a third party could write them: the
   * PostgreSQL monitors and the web dashboard. The CLI may use them as it uses the API; they must
   * never reach into the engine.
   */
  private static final String[] ADD_ONS = {ROOT + ".pg..", ROOT + ".fleet..", ROOT + ".web.."};
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
   * The CLI is a host like any other: it uses the API, plus the add-ons it starts for its flags
   * (--emperor pg://, --emperor-fleet, --emperor-web). That is deliberate: each add-on sits on top of
   * the API (see {@link #theAddOnsUseTheApiOnly}), so the CLI still reaches the engine through the
   * API only; entry points for them in the API would make the API lean on them.
   */
  @Test
  void theCliUsesTheApiAndTheAddOnsOnly() {
    noClasses().that().resideInAPackage(ROOT + ".cli..").should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..")
            .and(not(resideInAnyPackage(concat(ADD_ONS, API, ROOT + ".cli..")))))
        .check(main);
  }

  /**
   * The add-ons use the API (and each other: the fleet is a pg monitor), as a host program could;
   * besides, the stats JSON writer ({@code stats}, itself API-only) so that the dashboard's
   * {@code /api/status} is the stats socket's document byte for byte. Never the engine, the natives
   * or the fork-server client.
   */
  @Test
  void theAddOnsUseTheApiOnly() {
    noClasses().that().resideInAnyPackage(ADD_ONS).should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..")
            .and(not(resideInAnyPackage(concat(ADD_ONS, API, STATS + "..")))))
        .check(main);
  }

  /** What the dashboard borrows from {@code stats} leans on the API only, so web and stats make no way into the engine. */
  @Test
  void theStatsJsonUsesTheApiOnly() {
    noClasses().that().resideInAPackage(STATS + "..").should()
        .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAnyPackage(API, STATS + ".."))))
        .check(main);
  }

  private static String[] concat(String[] a, String... b) {
    return Stream.concat(Stream.of(a), Stream.of(b)).toArray(String[]::new);
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
