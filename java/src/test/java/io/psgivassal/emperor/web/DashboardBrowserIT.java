package io.psgivassal.emperor.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.NoAlertPresentException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard in a real browser: Debian's headless chromium, driven through Debian's
 * chromedriver (never a downloaded one), against an Emperor with real psgi-vassal processes.
 */
class DashboardBrowserIT {
  private static final String HOSTILE = "x<img src=x onerror=alert(1)>.ini";
  private static final Duration WAIT = Duration.ofSeconds(60);
  private WebFixture fixture;
  private Browser browser;
  private WebDriver driver;

  @BeforeEach
  void setUp() throws Exception {
    // JUnit runs tearDown whatever part of this failed
    fixture = new WebFixture(true, "app1.ini", HOSTILE);
    browser = new Browser();
    driver = browser.driver;
    driver.get(fixture.url("/"));
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (browser != null) {
        browser.close();
      }
    } finally {
      if (fixture != null) {
        fixture.close();
      }
    }
  }

  private WebDriverWait await() {
    return browser.await(WAIT);
  }

  private Optional<WebElement> row(String name) {
    for (WebElement tr : driver.findElements(By.cssSelector("#vassals tbody tr"))) {
      if (tr.findElement(By.cssSelector("td.name")).getText().equals(name)) {
        return Optional.of(tr);
      }
    }
    return Optional.empty();
  }

  private String cell(String name, String column) {
    return row(name).map(tr -> tr.findElement(By.cssSelector("td." + column)).getText()).orElse("");
  }

  /** Waits until the page shows {@code name} accepting (or loyal) with the Emperor's current pid of it. */
  private void awaitShown(String name) {
    await().withMessage(() -> name + " accepting with pid " + fixture.pid(name) + " on the page").until(d -> {
      String state = cell(name, "state");
      return (state.startsWith("accepting") || state.startsWith("loyal"))
          && cell(name, "pid").equals(String.valueOf(fixture.pid(name)));
    });
  }

  @Test
  void listsTheVassalsLiveWithTheHostileNameAsText() throws Exception {
    awaitShown("app1.ini");
    awaitShown(HOSTILE);
    awaitShown("base.ini");
    assertTrue(cell("base.ini", "kind").startsWith("base, generation 1"), cell("base.ini", "kind"));
    assertTrue(cell("app1.ini", "kind").startsWith("adopted from " + fixture.world.forkSocket), cell("app1.ini", "kind"));
    assertEquals("http://127.0.0.1:" + fixture.ports.get("app1.ini") + "/",
        row("app1.ini").orElseThrow().findElement(By.cssSelector("td.sockets a")).getAttribute("href"));
    // the name is text: no image element was made of it, and its onerror never ran
    assertEquals(List.of(), driver.findElements(By.tagName("img")));
    assertTrue(driver.getPageSource().contains("x&lt;img src=x onerror=alert(1)&gt;.ini"));
    try {
      driver.switchTo().alert();
      throw new AssertionError("an alert is open: the hostile name ran as markup");
    } catch (NoAlertPresentException expected) {
      // as it should be
    }

    // a config dropped into the directory shows up without the page being loaded again
    ((JavascriptExecutor) driver).executeScript("window.sameDocument = 'yes';");
    fixture.addVassal("late.ini");
    awaitShown("late.ini");
    assertEquals("yes", ((JavascriptExecutor) driver).executeScript("return window.sameDocument;"));

    // the filter hides what does not match; sorting by pid orders the rows
    driver.findElement(By.id("filter")).sendKeys("late");
    await().until(d -> visibleNames().equals(List.of("late.ini")));
    driver.findElement(By.id("filter")).clear();
    driver.findElement(By.id("filter")).sendKeys(" ");
    await().until(d -> visibleNames().size() == 4);
    driver.findElement(By.cssSelector("th[data-sort='pid']")).click();
    await().until(d -> {
      List<Integer> pids = visibleNames().stream().map(fixture::pid).toList();
      return pids.equals(pids.stream().sorted().toList());
    });
    driver.findElement(By.cssSelector("th[data-sort='pid']")).click();
    await().until(d -> {
      List<Integer> pids = visibleNames().stream().map(fixture::pid).toList();
      return pids.equals(pids.stream().sorted(Comparator.reverseOrder()).toList());
    });
  }

  private List<String> visibleNames() {
    return driver.findElements(By.cssSelector("#vassals tbody tr")).stream().filter(WebElement::isDisplayed)
        .map(tr -> tr.findElement(By.cssSelector("td.name")).getText()).toList();
  }

  @Test
  void reloadIsRefusedWithoutTheTokenAndChangesThePidWithIt() throws Exception {
    awaitShown(HOSTILE);
    int before = fixture.pid(HOSTILE);
    clickReload(HOSTILE);
    await().until(d -> driver.findElement(By.id("message")).getText().contains("refused (403)"));
    Thread.sleep(1500);
    assertEquals(before, fixture.pid(HOSTILE), "refused: the vassal is untouched");
    assertEquals(String.valueOf(before), cell(HOSTILE, "pid"));

    driver.findElement(By.id("token")).sendKeys("wrong-" + WebFixture.TOKEN);
    driver.findElement(By.id("use-token")).click();
    clickReload(HOSTILE);
    await().until(d -> driver.findElement(By.id("message")).getText().contains("wrong token"));
    assertEquals(before, fixture.pid(HOSTILE));

    driver.findElement(By.id("token")).sendKeys(WebFixture.TOKEN);
    driver.findElement(By.id("use-token")).click();
    clickReload(HOSTILE);
    await().until(d -> driver.findElement(By.id("message")).getText().contains("done"));
    int after = fixture.awaitNewPid(HOSTILE, before);
    assertNotEquals(before, after);
    awaitShown(HOSTILE);
    assertEquals(String.valueOf(after), cell(HOSTILE, "pid"));
  }

  private void clickReload(String name) {
    click(name, "reload");
  }

  private void click(String name, String action) {
    row(name).orElseThrow().findElement(By.cssSelector("button[data-action='" + action + "']")).click();
  }

  private void useToken() {
    driver.findElement(By.id("token")).sendKeys(WebFixture.TOKEN);
    driver.findElement(By.id("use-token")).click();
    await().until(d -> driver.findElement(By.id("message")).getText().contains("token set"));
  }

  @Test
  void stopAndStartFromThePage() throws Exception {
    awaitShown("app1.ini");
    useToken();
    int before = fixture.pid("app1.ini");
    click("app1.ini", "stop");
    await().withMessage("app1.ini idle without a pid").until(d -> cell("app1.ini", "state").equals("idle")
        && cell("app1.ini", "pid").isEmpty());
    assertEquals(0, fixture.pid("app1.ini"));
    assertTrue(cell("app1.ini", "exit").contains("stop requested"), cell("app1.ini", "exit"));
    assertFalse(io.psgivassal.emperor.testing.Procs.alive(before), "the stopped process is gone");
    click("app1.ini", "stop");
    await().until(d -> driver.findElement(By.id("message")).getText().contains("refused (409)"));
    click("app1.ini", "start");
    int after = fixture.awaitNewPid("app1.ini", before);
    awaitShown("app1.ini");
    assertEquals(String.valueOf(after), cell("app1.ini", "pid"));
  }

  @Test
  void aDeployShowsItsProgressBar() throws Exception {
    awaitShown("app1.ini");
    awaitShown(HOSTILE);
    useToken();
    // every state of the bar the page ever shows, as "value/max"
    ((JavascriptExecutor) driver).executeScript("window.bars = [];"
        + "new MutationObserver(() => document.querySelectorAll('#deploys progress')"
        + "  .forEach(p => window.bars.push(p.value + '/' + p.max)))"
        + ".observe(document.getElementById('deploys'), {childList: true, subtree: true});");
    fixture.slowBase();
    click("base.ini", "deploy");
    await().until(d -> driver.findElement(By.id("message")).getText().contains("deploy base.ini: done"));
    fixture.world.events.await("base.ini", io.psgivassal.emperor.api.VassalEvent.Type.DEPLOY_FINISHED, 1, WAIT);
    await().withMessage("both vassals on generation 2 on the page").until(d -> cell("app1.ini", "kind").endsWith("(generation 2)")
        && cell(HOSTILE, "kind").endsWith("(generation 2)") && cell("base.ini", "kind").equals("base, generation 2"));
    await().until(d -> driver.findElements(By.cssSelector("#deploys progress")).isEmpty());
    @SuppressWarnings("unchecked")
    List<String> bars = (List<String>) ((JavascriptExecutor) driver).executeScript("return window.bars;");
    assertTrue(bars.contains("0/2"), "the bar at its start: " + bars);
    assertTrue(bars.stream().allMatch(b -> b.endsWith("/2")), "two vassals to move: " + bars);
  }
}
