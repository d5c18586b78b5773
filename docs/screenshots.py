"""Take the README's screenshots from the demo `make run` builds (`make screenshots`).

The demo is set up as `make run` sets it up (migrate, `bootstrap --demo-knrs 2000`,
collectstatic, `manage.py serve`'s web server and a worker) in a temporary folder; then, as the
team would: `manage.py retrain` (challengers to compare), an inspection capacity of 20% set on
its admin page, and the pages photographed in Debian's Chromium at 1,400 px into
docs/screenshots/ (or the folder given).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selenium.webdriver.common.by import By  # noqa: E402

from tests.support.browser import log_in, screenshot, start_chromium  # noqa: E402
from tests.support.live_server import ADMIN_PASSWORD, running_crossline  # noqa: E402

DEMO_KNRS = 2000  # the Makefile's DEMO_KNRS
CAPACITY = "20"  # percent
EVERY_DAY = "date=2000-01-01&to=2099-12-31"


def wait_until(check, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(2)


def worklist_settled(driver, url: str) -> bool:
    """Every production day's worklist holds what its capacity allows (the worker is done)."""
    driver.get(f"{url}/admin/predictions/worklist/?{EVERY_DAY}")
    rows = driver.find_elements(By.CSS_SELECTOR, "#worklist-days-summary tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    return bool(cells) and all(c[2] == c[3] for c in cells)


def take(out: Path) -> list[Path]:
    taken = []
    with tempfile.TemporaryDirectory() as tmp, running_crossline(
        Path(tmp), demo_knrs=DEMO_KNRS, worker=True
    ) as live:
        live.manage("retrain", timeout=1200)
        last_day = live.manage(
            "shell", "-c",
            "from predictions.models import Prediction; "
            "print(Prediction.objects.order_by('-produced_at')[0].produced_at.date())",
        ).stdout.split()[-1]  # the shell may say what it imported first
        driver = start_chromium()
        try:
            log_in(driver, live.url, "admin", ADMIN_PASSWORD)
            driver.get(f"{live.url}/admin/predictions/inspectioncapacity/")
            share = driver.find_element(By.NAME, "share_percent")
            share.clear()
            share.send_keys(CAPACITY)
            driver.find_element(By.NAME, "_save").click()
            wait_until(lambda: worklist_settled(driver, live.url), "the worklist")

            def shot(name: str, url: str) -> None:
                driver.get(url if url.startswith("http") else live.url + url)
                time.sleep(1.5)  # Chart.js animates its first drawing
                taken.append(screenshot(driver, out / name))

            shot("dashboard.png", "/admin/")
            # The last two production days (a dozen vehicles listed), riskiest first.
            first_day = date.fromisoformat(last_day) - timedelta(days=1)
            shot("worklist.png", f"/admin/predictions/worklist/?date={first_day}&to={last_day}")

            driver.get(f"{live.url}/admin/mlmodels/modelversion/?q=fail-v2")
            version_url = driver.find_element(By.LINK_TEXT, "fail-v2").get_attribute("href")
            shot("model-version.png", version_url)
            driver.get(version_url)
            compare = "input[type=submit][form=compare-with-form]"
            driver.find_element(By.CSS_SELECTOR, compare).click()
            shot("comparison.png", driver.current_url)

            # The vehicle with the most NOK results among those with a defect.
            driver.get(f"{live.url}/admin/plant/vehicle/?has_defects__exact=1")
            for _ in range(2):  # the column's sort link: ascending, then descending
                sort = driver.find_element(By.CSS_SELECTOR, "th.column-nok_count div.text a")
                driver.get(sort.get_attribute("href"))
            shot("vehicle.png", driver.find_element(
                By.CSS_SELECTOR, "#result_list tbody th a").get_attribute("href"))
        finally:
            driver.quit()
    return taken


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    for path in take(folder):
        print(path)
