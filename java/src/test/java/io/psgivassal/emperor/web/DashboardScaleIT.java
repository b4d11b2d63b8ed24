package io.psgivassal.emperor.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.psgivassal.emperor.api.Emperor;
import io.psgivassal.emperor.api.VassalState;
import io.psgivassal.emperor.testing.Await;
import io.psgivassal.emperor.testing.VassalWorld;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebElement;

/**
 * 500 vassals on one page: on-demand vassals (each a real socket the Emperor listens on, no
 * process until a connection comes), so that the host can afford them.
 */
class DashboardScaleIT {
  private static final int VASSALS = 500;
  private static final Duration WAIT = Duration.ofSeconds(60);
  /** What a person waits for before calling the page slow. */
  private static final Duration SNAPPY = Duration.ofSeconds(3);

  @Test
  void fiveHundredVassalsStayUsable() throws Exception {
    try (VassalWorld world = VassalWorld.create()) {
      Path sockets = Files.createDirectory(world.dir.resolve("sockets"));
      for (int i = 0; i < VASSALS; i++) {
        world.write(String.format("v-%04d.ini", i), "[uwsgi]\nprocesses = 1\n");
      }
      Emperor emperor = Emperor.builder().vassalDirectory(world.vassals).binaryPath(world.binary)
          .onDemandDirectory(sockets).build();
      try (WebDashboard web = WebDashboard.start(emperor, "127.0.0.1:0", Optional.empty())) {
        world.start(emperor);
        Await.until(VASSALS + " vassals on demand", WAIT, () -> emperor.vassals().stream()
            .filter(v -> v.state() == VassalState.ON_DEMAND).count() == VASSALS);
        try (Browser browser = new Browser()) {
          var driver = browser.driver;
          driver.get("http://127.0.0.1:" + web.port() + "/");
          browser.await(WAIT).until(d -> d.findElements(By.cssSelector("#vassals tbody tr")).size() == VASSALS);
          browser.await(WAIT).until(d -> d.findElement(By.id("count")).getText().equals(VASSALS + " of " + VASSALS
              + " vassals shown"));

          // what one refresh of all 500 rows costs the page
          JavascriptExecutor js = (JavascriptExecutor) driver;
          js.executeScript("window.longest = 0; new PerformanceObserver(l => l.getEntries().forEach(e =>"
              + " window.longest = Math.max(window.longest, e.duration))).observe({entryTypes: ['longtask']});");

          long t0 = System.nanoTime();
          driver.findElement(By.id("filter")).sendKeys("v-0421");
          browser.await(SNAPPY).until(d -> d.findElement(By.id("count")).getText().equals("1 of " + VASSALS
              + " vassals shown"));
          long filtered = (System.nanoTime() - t0) / 1_000_000;
          List<WebElement> shown = driver.findElements(By.cssSelector("#vassals tbody tr")).stream()
              .filter(WebElement::isDisplayed).toList();
          assertEquals("v-0421.ini", shown.get(0).findElement(By.cssSelector("td.name")).getText());
          assertEquals("on_demand", shown.get(0).findElement(By.cssSelector("td.state")).getText());
          driver.findElement(By.id("filter")).clear();
          driver.findElement(By.id("filter")).sendKeys(" ");
          browser.await(SNAPPY).until(d -> d.findElement(By.id("count")).getText().startsWith(VASSALS + " of"));

          driver.findElement(By.cssSelector("th[data-sort='name']")).click(); // name, descending now
          browser.await(SNAPPY).until(d -> d.findElement(By.cssSelector("#vassals tbody tr td.name")).getText()
              .equals(String.format("v-%04d.ini", VASSALS - 1)));

          // several refreshes later: none blocked the page for long
          String live = driver.findElement(By.id("live")).getText();
          browser.await(WAIT).until(d -> !d.findElement(By.id("live")).getText().equals(live));
          Thread.sleep(3000);
          double longest = ((Number) js.executeScript("return window.longest;")).doubleValue();
          assertTrue(longest < 1000, "the page froze for " + longest + " ms refreshing " + VASSALS + " rows");
          System.out.printf("dashboard with %d vassals: filter shown in %d ms, longest task %.0f ms%n", VASSALS,
              filtered, longest);
        }
      }
    }
  }
}
