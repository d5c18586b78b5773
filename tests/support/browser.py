"""Debian's Chromium driven by Selenium through Debian's chromedriver (never a download)."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
LAPTOP = (1400, 900)
TABLET = (820, 1180)


def browser_available() -> bool:
    """Whether Debian's chromium and chromium-driver are installed."""
    return Path(CHROMEDRIVER).exists() and bool(shutil.which("chromium") or Path(CHROMIUM).exists())


def start_chromium(size: tuple[int, int] = LAPTOP) -> webdriver.Chrome:
    """A headless Chromium that records the page's console (all levels)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={size[0]},{size[1]}",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def log_in(driver: webdriver.Chrome, base_url: str, username: str, password: str) -> None:
    """Log in on the admin's login page."""
    driver.get(f"{base_url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 20).until(
        expected_conditions.presence_of_element_located((By.ID, "dashboard-stats"))
    )


def console_problems(driver: webdriver.Chrome) -> list[str]:
    """Console errors and failed requests since the last call (Chrome logs both as SEVERE)."""
    return [
        entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
    ]


CHARTS_DRAWN = """
return Array.from(document.querySelectorAll('canvas[data-chart]')).map(function (canvas) {
  var chart = window.Chart && Chart.getChart(canvas);
  var count = function (n, d) { return n + d.data.length; };
  var points = chart ? chart.data.datasets.reduce(count, 0) : 0;
  return [canvas.dataset.chart, points, canvas.width, canvas.height];
});
"""


def drawn_charts(driver: webdriver.Chrome, *, timeout: float = 10) -> dict[str, int]:
    """Chart id → number of data points Chart.js drew (waits until every canvas has a chart)."""

    def ready(d: webdriver.Chrome) -> list | bool:
        charts = d.execute_script(CHARTS_DRAWN)
        return charts if all(points > 0 and width > 0 for _, points, width, _ in charts) else False

    try:
        charts = WebDriverWait(driver, timeout).until(ready)
    except Exception:
        charts = driver.execute_script(CHARTS_DRAWN)
    return {name: points for name, points, _, _ in charts}


def screenshot(driver: webdriver.Chrome, path: Path, *, full_page: bool = True) -> Path:
    """Save the page as PNG (its whole height when `full_page`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if full_page:
        width = driver.get_window_size()["width"]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        original = driver.get_window_size()
        driver.set_window_size(width, min(max(height + 120, original["height"]), 4000))
        driver.save_screenshot(str(path))
        driver.set_window_size(original["width"], original["height"])
    else:
        driver.save_screenshot(str(path))
    return path
