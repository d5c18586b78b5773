"""Benchmark: the worklist on the demo `make run` builds, at an inspection capacity of 20%.

Run: `.venv/bin/python bench/worklist_demo_days.py [--knrs 2000] [--share 0.2]`. On a throwaway
SQLite database (or `MONGODB_URI`'s): `migrate` and `bootstrap --demo-knrs 2000` as `make run`
runs them (generate, import, train, predict), then two ways to the worklist:

- **set after**: the capacity set once every vehicle is predicted (the team's first day on
  `make run`); every production day is flagged again, as the worker does (`flag_again`);
- **set before**: every prediction removed, then each production day's vehicles predicted as
  they would arrive (oldest day first, one day at a time), each flagged on arrival against the
  threshold from the recent days' risks, then its day settled within the cap.

Per production day: its vehicles, the cap (floor of share × vehicles), how many are flagged;
the share flagged against the capacity's 5-point band; and whether the predictions' flags, the
worklist (`get_worklist`, what the page and `/api/worklist/` show) and the dashboard's flagged
card count the same vehicles. Also the dashboard and the monitoring page answer 200 after the
months are checked. Results: bench/results/worklist_demo_days_<database>.md.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
BAND = 0.05


def measure_days(share: float) -> dict:
    """Per production day (vehicles, cap, flagged) from the predictions, and whether the
    worklist and the dashboard agree with them."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from predictions.capacity import Capacity
    from predictions.models import Prediction
    from predictions.selectors import get_worklist

    days: dict[date, list[int]] = {}
    for produced, flagged in Prediction.objects.values_list("produced_at", "predicted_fail"):
        day = days.setdefault(timezone.localtime(produced).date(), [0, 0])
        day[0] += 1
        day[1] += bool(flagged)
    capacity = Capacity(share=share)
    rows = [(day, n, capacity.allowed(n), flagged) for day, (n, flagged) in sorted(days.items())]
    worklist = get_worklist(rows[0][0], rows[-1][0])
    worklist_days = [(d.day, d.vehicles, d.allowed, d.listed) for d in worklist.days]
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    html = client.get("/admin/").content.decode()
    card = re.search(r'([\d.]+)%</span><span class="label">of ([\d,]+) vehicles flagged', html)
    vehicles = sum(n for _, n, _, _ in rows)
    flagged = sum(f for *_, f in rows)
    return {
        "rows": rows,
        "vehicles": vehicles,
        "flagged": flagged,
        "worklist_agrees": worklist_days == rows and len(worklist.vehicles) == flagged,
        "dashboard": (float(card.group(1)), int(card.group(2).replace(",", ""))) if card else None,
        "dashboard_agrees": bool(card)
        and int(card.group(2).replace(",", "")) == vehicles
        and abs(float(card.group(1)) - 100 * flagged / vehicles) <= 0.051,
    }


def summary(name: str, measured: dict, share: float) -> list[str]:
    rows = measured["rows"]
    counts = [n for _, n, _, _ in rows]
    shares = [f / n for _, n, _, f in rows]
    over = sum(f > cap for _, _, cap, f in rows)
    within = sum(abs(s - share) <= BAND for s in shares)
    card = measured["dashboard"]
    return [
        f"| {name} | {len(rows)} | {min(counts)}–{max(counts)} (mean {sum(counts) / len(rows):.1f})"
        f" | {measured['flagged']:,} of {measured['vehicles']:,} "
        f"({measured['flagged'] / measured['vehicles']:.1%}) | "
        f"{min(shares):.1%}–{max(shares):.1%} | {within} of {len(rows)} | {over} | "
        f"{'yes' if measured['worklist_agrees'] else 'NO'} | "
        f"{card[0]:.1f}% of {card[1]:,} ({'agrees' if measured['dashboard_agrees'] else 'NO'}) |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=2000, help="Demo vehicles (DEMO_KNRS).")
    parser.add_argument("--share", type=float, default=0.2, help="The inspection capacity.")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="worklist-demo-"))
    os.environ.setdefault("CROSSLINE_VAR_DIR", str(workdir / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("CROSSLINE_ADMIN_PASSWORD", secrets.token_urlsafe(12))
    import django

    django.setup()
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from mlmodels.services import get_active_models
    from plant.selectors import list_tested_knrs
    from predictions.arrivals import flag_again
    from predictions.capacity import set_inspection_capacity
    from predictions.models import Prediction
    from predictions.services import predict_stored_knrs

    (workdir / "var").mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    out = StringIO()
    call_command("bootstrap", demo_knrs=args.knrs, stdout=out)
    bootstrap_seconds = time.perf_counter() - started
    trained = [line.strip() for line in out.getvalue().splitlines() if "PR-AUC" in line]

    set_inspection_capacity(share=args.share)
    flag_again()
    after = measure_days(args.share)

    # The same vehicles arriving one production day at a time with the capacity in force.
    models = get_active_models()
    by_day: dict[date, list[str]] = {}
    for knr, produced in Prediction.objects.values_list("knr", "produced_at"):
        by_day.setdefault(timezone.localtime(produced).date(), []).append(knr)
    Prediction.objects.all().delete()
    for day in sorted(by_day):
        predict_stored_knrs(sorted(by_day[day]), models=models)
    before = measure_days(args.share)
    assert len(list_tested_knrs()) == before["vehicles"]

    call_command("check_months", stdout=StringIO())
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    pages = {
        url: client.get(url).status_code
        for url in ("/admin/", "/admin/monitoring/monthcheck/", "/admin/predictions/worklist/")
    }

    database = "mongodb" if connection.vendor == "mongodb" else "sqlite"
    lines = [
        f"# The worklist on `make run`'s demo at {args.share:.0%} capacity ({database})",
        "",
        f"`bench/worklist_demo_days.py --knrs {args.knrs} --share {args.share}`: `bootstrap "
        f"--demo-knrs {args.knrs}` as `make run` runs it ({bootstrap_seconds:.0f} s: generate, "
        "import, train, predict), then the capacity set after every vehicle was predicted "
        "(every day flagged again) and before they arrive (each production day predicted in "
        "turn, flagged on arrival, then settled). A day's cap is floor(share × vehicles); the "
        f"band is {BAND * 100:g} points either side of the capacity; floor(s·n)/n ≥ s − 1/n, so "
        f"every day of at least {round(1 / BAND)} vehicles can keep both.",
        "",
        "Trained by `bootstrap`:",
        "",
        *(f"- `{line}`" for line in trained),
        "",
        "| capacity set | production days | vehicles per day | flagged | flagged per day "
        "(min–max) | days within 5 points | days over the cap | worklist agrees | dashboard |",
        "|---|---|---|---|---|---|---|---|---|",
        *summary("after the predictions", after, args.share),
        *summary("before the vehicles arrive", before, args.share),
        "",
        "Pages after `check_months`: "
        + ", ".join(f"`{url}` {status}" for url, status in pages.items()) + ".",
        "",
        "Per production day (capacity set before the vehicles arrive): vehicles, cap, flagged.",
        "",
        "| day | vehicles | cap | flagged | share |",
        "|---|---|---|---|---|",
        *(f"| {day} | {n} | {cap} | {f} | {f / n:.1%} |" for day, n, cap, f in before["rows"]),
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"worklist_demo_days_{database}.md"
    path.write_text("\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    main()
