"""The worklist in a real browser (Debian's Chromium): the team raises the demo's capacity of 20%
to 40% from the dashboard; a production day of 100 vehicles arrives and lists its riskiest 40,
each saying why; the worklist, the dashboard's cards and the predictions agree, and every link
the dashboard shows opens a working page."""

import os
import re
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from plant.demo import generate_demo_data
from tests.support.browser import (
    browser_available,
    console_problems,
    log_in,
    screenshot,
    start_chromium,
)
from tests.support.live_server import ADMIN_PASSWORD, running_crossline

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.sqlite_only(
        reason="the browser adds nothing database-specific; the worklist's numbers are tested "
        "on both databases in test_worklist.py and test_worklist_pages.py"
    ),
    pytest.mark.skipif(not browser_available(), reason="needs Debian's chromium-driver"),
]

WAIT = 20
EVERY_DAY = "date=2000-01-01&to=2099-12-31"
# The demo spreads its vehicles over January and February 2024 (300 here: a few a day); a plant
# makes hundreds a day: one day of 100 vehicles, after the demo's last.
PLANT_DAY = "2025-03-03"
PLANT_DAY_VEHICLES = 100


# Whether every matching cell ends within the window (none is cut off or scrolled away).
FITS = """
var cells = Array.from(document.querySelectorAll(arguments[0]));
return cells.length > 0 && cells.every(c => c.getBoundingClientRect().right <= window.innerWidth);
"""


def one_production_day(folder: Path) -> Path:
    """A results export of PLANT_DAY_VEHICLES new vehicles, all last tested on PLANT_DAY."""
    import pandas as pd

    files = generate_demo_data(
        knrs=PLANT_DAY_VEHICLES, out_dir=folder, seed=11, compress=False,
        first_knr_number=5_000_001,
    )
    frame = pd.read_csv(files["results"], dtype=str, keep_default_na=False)
    frame["DATA"] = PLANT_DAY + frame["DATA"].str[10:]
    path = folder / "one-day-results.csv"
    frame.to_csv(path, index=False)
    return path


def texts(driver, selector: str) -> list[str]:
    """The matching elements' text as written, spaces collapsed."""
    return [
        " ".join((element.get_attribute("textContent") or "").split())
        for element in driver.find_elements(By.CSS_SELECTOR, selector)
    ]


def opened(driver, url: str) -> str:
    """Open a page; it must be an admin page that loaded without errors. Its HTML."""
    driver.get(url)
    WebDriverWait(driver, WAIT).until(
        expected_conditions.presence_of_element_located((By.ID, "content"))
    )
    html = driver.page_source
    assert "Server Error" not in html and "Page not found" not in html, url
    problems = console_problems(driver)
    assert not problems, f"{url}: {problems}"
    return html


def percent(text: str) -> float:
    return float(text.rstrip("%"))


def worklist_days(driver) -> list[tuple[int, int, int]]:
    """The worklist page's days: (vehicles, allowed, listed)."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#worklist-days-summary tbody tr")
    days = []
    for row in rows:
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        days.append((int(cells[1]), int(cells[2]), int(cells[3])))
    return days


def test_the_worklist_and_the_dashboards_links_in_a_browser(tmp_path, monkeypatch):
    shots = Path(os.environ.get("CROSSLINE_SCREENSHOT_DIR") or tmp_path / "screenshots")
    with running_crossline(tmp_path, demo_knrs=300, worker=True) as live:
        driver = start_chromium()
        try:
            log_in(driver, live.url, "admin", ADMIN_PASSWORD)

            # At 1,400 px, a list's last columns are on screen (the activations' reasons, the
            # versions' metrics) and a KNR stays on one line.
            assert driver.execute_script("return window.innerWidth") == 1400
            for url, column in (
                ("/admin/mlmodels/activation/", "reason"),
                ("/admin/mlmodels/modelversion/", "last_used"),
                ("/admin/predictions/prediction/", "created_at"),
            ):
                opened(driver, live.url + url)
                assert driver.execute_script(FITS, f"td.field-{column}"), (url, column)
                if "prediction" in url:
                    lines = driver.execute_script(
                        "return Array.from(document.querySelectorAll('.field-knr_link a'))"
                        ".map(a => a.getClientRects().length)"
                    )
                    assert lines and set(lines) == {1}, lines

            # "Predict again" answers at once with a batch page that follows the worker's
            # progress to its end.
            opened(driver, f"{live.url}/admin/predictions/prediction/")
            for box in driver.find_elements(By.CSS_SELECTOR, "input.action-select")[:3]:
                box.click()
            Select(driver.find_element(By.NAME, "action")).select_by_value("predict_again")
            driver.find_element(By.CSS_SELECTOR, "button[name=index]").click()
            WebDriverWait(driver, WAIT).until(
                expected_conditions.presence_of_element_located((By.ID, "progress"))
            )
            assert "Predicting 3 vehicles again on a worker" in texts(driver, "ul.messagelist")[0]
            WebDriverWait(driver, 120).until(lambda d: texts(
                d, "#progress [data-field=status]") == ["Succeeded"])
            assert texts(driver, "#progress [data-field=progress]") == ["100%"]

            # The dashboard says what flags; its "change" link leads to the capacity page,
            # which takes the share as a percentage: 120 is refused, 40 taken (the demo came
            # with 20%).
            opened(driver, f"{live.url}/admin/")
            assert "20% of each production day's vehicles (the worklist)" in texts(
                driver, "#flag-rule"
            )[0]
            driver.find_element(By.CSS_SELECTOR, "#flag-rule a").click()
            assert "Share of each production day's vehicles (%)" in texts(
                driver, "label[for=id_share_percent]"
            )[0]
            share = driver.find_element(By.NAME, "share_percent")
            share.clear()
            share.send_keys("120")
            driver.find_element(By.NAME, "_save").click()
            WebDriverWait(driver, WAIT).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".errorlist"))
            )
            assert "120% is not a share of the day's vehicles" in texts(driver, ".errorlist")[0]
            share = driver.find_element(By.NAME, "share_percent")
            share.clear()
            share.send_keys("40")
            driver.find_element(By.NAME, "_save").click()
            WebDriverWait(driver, WAIT).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist"))
            )
            assert "Inspection capacity" in texts(driver, "ul.messagelist")[0]

            # The worker flags every production day again: each day's worklist then holds
            # exactly the floor of 40% of its vehicles.
            deadline = time.monotonic() + 120
            while True:
                opened(driver, f"{live.url}/admin/predictions/worklist/?{EVERY_DAY}")
                days = worklist_days(driver)
                if days and all(listed == allowed for _, allowed, listed in days):
                    break
                assert time.monotonic() < deadline, days
                time.sleep(2)
            assert all(allowed == int(vehicles * 0.4) for vehicles, allowed, _ in days)
            vehicles = sum(day[0] for day in days)
            listed = sum(day[2] for day in days)
            assert vehicles >= 300 * 0.8 and listed > 0
            assert "Capacity in force: 40% of each production day's vehicles" in texts(
                driver, "#worklist-capacity"
            )[0]

            assert len(driver.find_elements(By.CSS_SELECTOR, "#worklist-vehicles tbody tr")) == (
                listed
            )

            # A day of 100 vehicles arrives (an import, predicted on the worker as it ends):
            # its worklist holds exactly 40% of them, its riskiest.
            live.manage("import_data", "--results", str(one_production_day(tmp_path / "day")),
                        "--no-progress")
            deadline = time.monotonic() + 180
            while True:
                opened(driver, f"{live.url}/admin/predictions/worklist/?date={PLANT_DAY}")
                days = worklist_days(driver)
                rows = driver.find_elements(By.CSS_SELECTOR, "#worklist-vehicles tbody tr")
                # Predicted, flagged within the day's cap, then explained (a moment later).
                if days and days[0][0] == PLANT_DAY_VEHICLES and all(
                    row.find_elements(By.CSS_SELECTOR, "td:last-child li") for row in rows
                ):
                    break
                assert time.monotonic() < deadline, days
                time.sleep(2)
            assert days == [(PLANT_DAY_VEHICLES, 40, 40)]
            assert texts(driver, "#worklist-days-summary tbody td")[-1] == "40.0%"

            # Riskiest first, each vehicle saying why.
            rows = driver.find_elements(By.CSS_SELECTOR, "#worklist-vehicles tbody tr")
            assert len(rows) == 40
            risks = [percent(row.find_elements(By.TAG_NAME, "td")[3].text) for row in rows]
            assert risks == sorted(risks, reverse=True)
            reasons = [row.find_elements(By.CSS_SELECTOR, "td:last-child li") for row in rows]
            assert all(reasons), "every vehicle on the worklist names its reasons"
            first_reason = reasons[0][0].text
            screenshot(driver, shots / "worklist.png")

            # The top vehicle's prediction page says why too.
            rows[0].find_element(By.CSS_SELECTOR, "td a").click()
            WebDriverWait(driver, WAIT).until(
                expected_conditions.presence_of_element_located((By.ID, "content"))
            )
            assert first_reason in driver.page_source
            assert not console_problems(driver)

            # The dashboard's flagged card is the worklist's share, over the same vehicles.
            opened(driver, f"{live.url}/admin/predictions/worklist/?{EVERY_DAY}")
            days = worklist_days(driver)
            vehicles = sum(day[0] for day in days)
            listed = sum(day[2] for day in days)
            assert all(on <= 0.4 * n for n, _, on in days)
            opened(driver, f"{live.url}/admin/")
            card = driver.find_element(By.ID, "flagged-card")
            value = percent(card.find_element(By.CSS_SELECTOR, ".value").text)
            assert value == pytest.approx(100 * listed / vehicles, abs=0.5)
            assert f"of {vehicles:,} vehicles flagged" in card.text
            assert "40% of each production day's vehicles (the worklist)" in texts(
                driver, "#flag-rule"
            )[0]

            # Every link the dashboard's cards and flag rule show opens a working page; the
            # flagged card's list holds the worklist's vehicles.
            links = {
                a.get_attribute("href")
                for a in driver.find_elements(By.CSS_SELECTOR, "a.cl-stat, #flag-rule a")
            }
            assert len(links) >= 5, links
            flagged_url = card.get_attribute("href")
            for url in sorted(links):
                html = opened(driver, url)
                if url == flagged_url:
                    [count] = re.findall(r"(\d[\d,]*) predictions?\b", " ".join(
                        texts(driver, ".paginator")))
                    assert int(count.replace(",", "")) == listed, (count, listed)
                    assert "predicted_fail__exact=1" in url
                if url.split("?")[0].endswith("/worklist/"):
                    assert 'id="worklist-vehicles"' in html
        finally:
            driver.quit()
