package io.psgivassal.emperor.web;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * Debian's headless chromium through Debian's chromedriver (given by path: Selenium Manager never
 * downloads anything), with a profile of its own that {@link #close} removes with the browser.
 */
final class Browser implements AutoCloseable {
  final WebDriver driver;
  private final ChromeDriverService service;
  private final Path profile;

  Browser() throws Exception {
    profile = Files.createTempDirectory("emperor-chromium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary("/usr/bin/chromium");
    options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--user-data-dir=" + profile);
    service = new ChromeDriverService.Builder().usingDriverExecutable(new File("/usr/bin/chromedriver"))
        .usingAnyFreePort().build();
    WebDriver d;
    try {
      d = new ChromeDriver(service, options);
    } catch (RuntimeException e) {
      service.stop();
      removeProfile();
      throw e;
    }
    driver = d;
  }

  WebDriverWait await(Duration max) {
    return new WebDriverWait(driver, max, Duration.ofMillis(100));
  }

  @Override
  public void close() throws Exception {
    try {
      driver.quit();
    } finally {
      service.stop();
      removeProfile();
    }
  }

  private void removeProfile() throws Exception {
    try (Stream<Path> walk = Files.walk(profile)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
