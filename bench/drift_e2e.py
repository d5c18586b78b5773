"""Benchmark: the monthly check end to end on the demo line, through the page's and the API's
reports: a year of demo vehicles trained on, a next year imported (with 5 tests shifted from a
month on, and without), every month checked against the active versions.

Run: `.venv/bin/python bench/drift_e2e.py [--knrs 12000] [--drift-from 2025-07-01]`.
Each scenario runs in its own process on a throwaway SQLite database: `generate_demo_data`
writes 2024 (`--knrs` vehicles over 360 days), it is imported and trained on with the default
pipeline (the versions that clear the gate are activated), then `generate_demo_data` writes the
next 360 days (seed 1), with `--drift-from … --drift-tests 5` or without, it is imported and
`check_months` checks every month for every active kind. The drift and performance reports are
read through `GET /api/monitoring/drift/` and `/api/monitoring/performance/`. Writes
bench/results/<name>.md and .json.gz (with every check's columns, for bench/alarm_rules.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("shifted", "unshifted")


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One scenario on a fresh database (this process's); its figures."""
    knrs, drift_from = args.knrs, args.drift_from
    var = Path(tempfile.mkdtemp(prefix="crossline-bench-"))
    os.environ["CROSSLINE_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.pop("MONGODB_URI", None)
    os.environ.pop("CROSSLINE_SQLITE_PATH", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from mlmodels.selectors import list_active_versions
    from monitoring.checks import check_months
    from monitoring.models import Alarm, MonthCheck
    from plant.imports import import_dataset
    from plant.management.commands.generate_demo_data import drift_test_names
    from training.runs import execute_training_run, start_training_run

    call_command("migrate", verbosity=0)

    def generate_and_import(folder: str, *args: str) -> None:
        out = var / folder
        call_command("generate_demo_data", "--knrs", str(knrs), "--out", str(out), *args,
                     stdout=open(os.devnull, "w"))  # noqa: SIM115 (closed at exit)
        for kind, file in (("results", "results.csv.gz"), ("defects", "defects.csv")):
            import_dataset(path=out / file, original_name=file, kind=kind)

    started = time.monotonic()
    generate_and_import("first", "--seed", str(args.seed))
    run = execute_training_run(str(start_training_run(enqueue=False).pk))
    trained_s = time.monotonic() - started
    active = sorted(list_active_versions())
    shift = ["--drift-from", drift_from, "--drift-tests", args.drift_tests,
             "--drift-sds", str(args.drift_sds)] if name == "shifted" else []
    generate_and_import("next", "--seed", str(args.seed + 1), *shift)
    started = time.monotonic()
    checks = check_months(force=True)
    checked_s = time.monotonic() - started

    api = APIClient()
    api.force_authenticate(get_user_model().objects.create_user("reader", password="x" * 20))
    kinds = {}
    for kind in active:
        drift = api.get(f"/api/monitoring/drift/?kind={kind}").json()
        performance = api.get(f"/api/monitoring/performance/?kind={kind}").json()
        detail = {}
        alarmed = [m["month"] for m in drift["months"] if m["alarm"]]
        if alarmed:
            detail = api.get(f"/api/monitoring/drift/?kind={kind}&month={alarmed[0]}").json()
        kinds[kind] = {
            "model_name": drift["model_name"],
            "months": [
                {"month": m["month"], "vehicles": m["vehicles"], "status": m["status"],
                 "drifted_share": m["drifted_share"], "considered": m["considered"],
                 "trained_on": m["trained_on"]}
                for m in drift["months"]
            ],
            "first_alarm_columns": [c["column"] for c in (detail.get("month") or {}).get(
                "columns", []) if c["drifted"]],
            "performance": performance["months"],
            "band": performance["band"],
        }
    return {
        "scenario": name,
        "knrs_per_set": knrs,
        "drift_from": drift_from if name == "shifted" else None,
        "shifted_tests": list(drift_test_names(args.drift_tests)) if name == "shifted" else [],
        "drift_sds": args.drift_sds if name == "shifted" else None,
        "seed": args.seed,
        "run_status": run.status,
        "active_kinds": active,
        "train_seconds": round(trained_s, 1),
        "check_seconds": round(checked_s, 1),
        "checks": len(checks),
        "alarms": sorted(
            [a.signal, a.type_model, a.month]
            for a in Alarm.objects.all()
        ),
        "kinds": kinds,
        # Each check's columns and estimates as stored: alarm rules can be replayed on them.
        "check_rows": [
            {"kind": c.type_model, "month": c.month, "vehicles": c.vehicles,
             "trained_on": c.trained_on, "threshold": c.threshold,
             "columns": {n: [col["drifted"], col["importance"], col["rank"]]
                         for n, col in c.columns.items()},
             "estimate": c.estimate, "realised": c.realised, "band": c.band}
            for c in MonthCheck.objects.order_by("type_model", "month")
        ],
    }


def share_text(month: dict[str, Any]) -> str:
    """A month's drifted share in whole percent ("–" when too few to judge)."""
    share = month["drifted_share"]
    return "–" if share is None or month["status"] == "too_few" else f"{round(100 * share)}%"


def figures_md(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "# The monthly check end to end on the demo line",
        "",
        f"`bench/drift_e2e.py --knrs {args.knrs} --drift-from {args.drift_from}` (see its "
        "docstring): 2024 trained on (default pipeline), the next 360 days imported and every "
        "month checked for every active kind; figures read from the monitoring API.",
        "",
    ]
    for name, result in results.items():
        checked = {
            kind: [m for m in data["months"] if not m["trained_on"]]
            for kind, data in result["kinds"].items()
        }
        drift_alarms = [a for a in result["alarms"] if a[0] == "drift"]
        perf_alarms = [a for a in result["alarms"] if a[0] == "performance"]
        lines += [
            f"## {name}" + (f": {', '.join(result['shifted_tests'])} moved by "
                            f"{result.get('drift_sds', -1.0):+g} standard deviation from "
                            f"{result['drift_from']}" if result["drift_from"] else ""),
            "",
            f"Training run {result['run_status']} in {result['train_seconds']} s; active kinds: "
            f"{', '.join(result['active_kinds'])}; {result['checks']} month checks in "
            f"{result['check_seconds']} s.",
            "",
            f"- drift alarms: {len(drift_alarms)}"
            + (f" ({', '.join(f'{k} {m}' for _, k, m in drift_alarms)})" if drift_alarms else ""),
            f"- performance alarms: {len(perf_alarms)}"
            + (f" ({', '.join(f'{k} {m}' for _, k, m in perf_alarms)})" if perf_alarms else ""),
            "",
            "| kind | months checked (not trained on) | drift alarms | drifted share per month |",
            "|---|---|---|---|",
        ]
        for kind, months in checked.items():
            shares = " ".join(f"{m['month'][2:]}:{share_text(m)}" for m in months)
            alarms = sum(m["status"] == "alarm" for m in months)
            lines.append(f"| {kind} | {len(months)} | {alarms} | {shares} |")
        if result["shifted_tests"]:
            lines += ["", "Shifted tests named among the drifted columns of each kind's first "
                      "alarm month:", ""]
            for kind, data in result["kinds"].items():
                drifted = data["first_alarm_columns"]
                named = [t for t in result["shifted_tests"] if any(t in c for c in drifted)]
                count = len(result["shifted_tests"])
                lines.append(f"- {kind}: " + (f"{len(named)} of {count} ({', '.join(named)}) among "
                                              f"{len(drifted)} drifted columns" if drifted
                                              else "no drift alarm"))
        lines += ["", "Estimated against realised, months with realised metrics:", "",
                  "| kind | months | precision est. (mean) | realised (mean) | max abs. diff. "
                  "| band | recall est. (mean) | realised (mean) | max abs. diff. | band |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for kind, data in result["kinds"].items():
            months = [m for m in data["performance"] if m["realised"] and m["estimated"]
                      and m["status"] not in ("training", "too_few")]
            if result["drift_from"]:
                months = [m for m in months if m["month"] < result["drift_from"][:7]]
            if not months:
                lines.append(f"| {kind} | 0 | | | | | | | | |")
                continue
            cells = [kind, str(len(months))]
            for metric in ("precision", "recall"):
                est = [m["estimated"][metric] for m in months if m["estimated"][metric] is not None]
                real = [m["realised"][metric] for m in months if m["realised"][metric] is not None]
                diff = [abs(m["difference"][metric]) for m in months
                        if (m["difference"] or {}).get(metric) is not None]
                band = data["band"].get(metric)
                cells += [
                    f"{sum(est) / len(est):.3f}" if est else "–",
                    f"{sum(real) / len(real):.3f}" if real else "–",
                    f"{max(diff):.3f}" if diff else "–",
                    f"{band['lower']:.3f}–{band['upper']:.3f}" if band else "–",
                ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=12_000, help="Vehicles per demo set.")
    parser.add_argument("--drift-from", default="2025-07-01", help="The shifted scenario's day.")
    parser.add_argument("--seed", type=int, default=0,
                        help="The trained set's seed (the next set's is one more).")
    parser.add_argument("--drift-tests", default="5", help="As generate_demo_data's.")
    parser.add_argument("--drift-sds", type=float, default=-1.0, help="As generate_demo_data's.")
    parser.add_argument("--name", default="drift_e2e", help="bench/results/<name>.md and .json.")
    parser.add_argument("--one", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.json.write_text(json.dumps(run_scenario(args.one, args)))
        return
    results = {}
    for name in SCENARIOS:
        out = Path(tempfile.mkdtemp()) / f"{name}.json"
        subprocess.run(
            [sys.executable, __file__, "--one", name, "--json", str(out), "--knrs",
             str(args.knrs), "--drift-from", args.drift_from, "--seed", str(args.seed),
             "--drift-tests", args.drift_tests, "--drift-sds", str(args.drift_sds)],
            check=True, env={k: v for k, v in os.environ.items() if k != "MONGODB_URI"},
        )
        results[name] = json.loads(out.read_text())
    # The checks' columns make it large: kept compact and compressed.
    with gzip.open(RESULTS / f"{args.name}.json.gz", "wt") as out:
        json.dump(results, out)
    (RESULTS / f"{args.name}.md").write_text(figures_md(results, args))
    print((RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
