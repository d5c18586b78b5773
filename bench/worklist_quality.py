"""Benchmark: the worklist at an inspection capacity, in every world.

Run: `.venv/bin/python bench/worklist_quality.py [--world demo] [--seed 2001 --seed 2002]
[--knrs 3000] [--share 0.2]`. For each world (bench/worlds/) and seed, in a process of its own
on a throwaway SQLite database: generate the world's exports, `import_data`, `train --wait`
(activating what the gate allows), set the inspection capacity, predict every vehicle
(`predict_stored_knrs`, timed), then on the run's test period (the latest 20% of vehicles by
production time, never trained on) compare, per production day, the top `share` of vehicles by
each candidate risk:

- p_fail: the fail model's probability of any defect;
- any group: 1 − Π(1 − p_g) over the active fail-group models (every group has indicated tests);
- worklist: the vehicles crossline flagged (on the worklist), as stored.

Precision = share of the listed vehicles with a recorded defect; recall = share of the defective
vehicles listed. The per-day share flagged is read over every production day with at least
1/share vehicles (smaller days may list none). Results: bench/results/worklist.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORLDS = ("demo", "small_deviations", "interactions")
RESULTS = ROOT / "bench" / "results"


def pack_days(path: Path, days: int) -> None:
    """Rewrite an export so that every `days` consecutive days become one production day
    (times of day kept): the generators spread vehicles over a year, a few a day, where a
    plant makes hundreds."""
    import pandas as pd

    from plant.demo import START

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    start = pd.Timestamp(START).normalize()
    dates = pd.to_datetime(frame["DATA"].str[:10], format="%Y-%m-%d", errors="coerce")
    valid = dates.notna()
    packed = start + pd.to_timedelta((dates[valid] - start).dt.days // days, unit="D")
    frame.loc[valid, "DATA"] = packed.dt.strftime("%Y-%m-%d") + frame.loc[valid, "DATA"].str[10:]
    frame.to_csv(path, index=False)


def measure(
    world: str, seed: int, knrs: int, share: float, workdir: Path, pack: int = 1
) -> dict:
    """One world and seed, in this process (Django set up on a throwaway database)."""
    os.environ.setdefault("CROSSLINE_VAR_DIR", str(workdir / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from io import StringIO

    import numpy as np
    from django.core.management import call_command
    from django.utils import timezone

    from bench.worlds.registry import WORLDS as GENERATORS
    from mlmodels.services import get_active_models
    from plant.selectors import list_knrs_with_defects, list_tested_knrs
    from predictions.capacity import set_inspection_capacity
    from predictions.models import Prediction
    from predictions.services import predict_stored_knrs

    call_command("migrate", verbosity=0)
    files = GENERATORS[world](knrs=knrs, out_dir=workdir / world, seed=seed)
    if pack > 1:
        pack_days(files["results"], pack)
        pack_days(files["defects"], pack)
    call_command(
        "import_data", results=[files["results"]], defects=[files["defects"]], stdout=StringIO()
    )
    call_command("train", wait=True, stdout=StringIO())
    set_inspection_capacity(share=share)
    models = get_active_models()
    tested = list_tested_knrs()
    started = time.perf_counter()
    predict_stored_knrs(tested, models=models)
    predict_seconds = time.perf_counter() - started

    defective = list_knrs_with_defects()
    groups = sorted(kind.removeprefix("group_") for kind in models if kind.startswith("group_"))
    rows = list(
        Prediction.objects.values_list("knr", "produced_at", "p_fail", "probabilities",
                                       "predicted_fail")
    )
    rows.sort(key=lambda row: (row[1], row[0]))
    test_from = int(len(rows) * 0.8)
    by_day: dict[str, list[tuple]] = {}
    for index, (knr, produced, p_fail, probabilities, flagged) in enumerate(rows):
        any_group = 1.0 - math.prod(1.0 - float(probabilities.get(g, 0.0)) for g in groups)
        day = f"{timezone.localtime(produced):%Y-%m-%d}"
        by_day.setdefault(day, []).append(
            (index >= test_from, knr in defective, p_fail or 0.0, any_group, flagged)
        )

    def listed_counts(score: int) -> tuple[int, int, int]:
        """(listed, listed with a defect, defective) over the test period's days."""
        listed = hits = positives = 0
        for vehicles in by_day.values():
            test = [v for v in vehicles if v[0]]
            if not test:
                continue
            positives += sum(v[1] for v in test)
            if score == 4:
                chosen = [v for v in test if v[4]]
            else:
                cap = int(share * len(vehicles) + 1e-9)
                # The day's top by the score among all its vehicles, counted on test vehicles.
                top = sorted(vehicles, key=lambda v: -v[score])[:cap]
                chosen = [v for v in top if v[0]]
            listed += len(chosen)
            hits += sum(v[1] for v in chosen)
        return listed, hits, positives

    rankings = {}
    for name, column in (("p_fail", 2), ("any group", 3), ("worklist", 4)):
        listed, hits, positives = listed_counts(column)
        rankings[name] = {
            "listed": listed,
            "precision": hits / listed if listed else None,
            "recall": hits / positives if positives else None,
        }
    shares = [
        sum(v[4] for v in vehicles) / len(vehicles)
        for vehicles in by_day.values()
        if len(vehicles) >= 1 / share
    ]
    caps = [
        sum(v[4] for v in vehicles) <= int(share * len(vehicles) + 1e-9)
        for vehicles in by_day.values()
    ]
    return {
        "world": world,
        "seed": seed,
        "knrs": knrs,
        "pack": pack,
        "share": share,
        "vehicles": len(rows),
        "days": len(by_day),
        "vehicles_per_day": len(rows) / max(len(by_day), 1),
        "prevalence": len(defective & {r[0] for r in rows}) / max(len(rows), 1),
        "active_groups": groups,
        "predict_seconds": predict_seconds,
        "rankings": rankings,
        "flagged_share": {
            "mean": float(np.mean(shares)) if shares else None,
            "min": float(np.min(shares)) if shares else None,
            "max": float(np.max(shares)) if shares else None,
            "within_5_points": float(np.mean([abs(s - share) <= 0.05 for s in shares]))
            if shares else None,
            "days_over_cap": int(len(caps) - sum(caps)),
            "days": len(shares),
        },
    }


def report(runs: list[dict]) -> str:
    """The Markdown report of every run."""
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    share = runs[0]["share"]
    lines = [
        f"# The worklist at {share:.0%} inspection capacity",
        "",
        "Per world and seed (`bench/worklist_quality.py`): the test period's vehicles (latest 20% "
        "by production time), per production day the top "
        f"{share:.0%} by each risk. Precision: listed vehicles with a recorded defect; recall: "
        "defective vehicles listed. Worklist: what crossline flagged. Share flagged per day: "
        f"over days with at least {math.ceil(1 / share)} vehicles; within 5 points: the share "
        "of those days.",
        "",
        "| world | seed | days packed | vehicles/day | prevalence | precision p_fail | "
        "precision any group | precision worklist | recall p_fail | recall any group | "
        "recall worklist | flagged per day mean (min–max) | within 5 pts | days over cap | "
        "predict s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        r, f = run["rankings"], run["flagged_share"]
        lines.append(
            f"| {run['world']} | {run['seed']} | {run.get('pack', 1)} | "
            f"{run['vehicles_per_day']:.0f} | "
            f"{run['prevalence']:.1%} | {pct(r['p_fail']['precision'])} | "
            f"{pct(r['any group']['precision'])} | {pct(r['worklist']['precision'])} | "
            f"{pct(r['p_fail']['recall'])} | {pct(r['any group']['recall'])} | "
            f"{pct(r['worklist']['recall'])} | {pct(f['mean'])} ({pct(f['min'])}–"
            f"{pct(f['max'])}) | {pct(f['within_5_points'])} | {f['days_over_cap']} | "
            f"{run['predict_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", action="append", choices=WORLDS, help="Repeatable.")
    parser.add_argument("--seed", action="append", type=int, help="Repeatable.")
    parser.add_argument("--knrs", type=int, default=3000, help="Vehicles per world.")
    parser.add_argument("--share", type=float, default=0.2, help="The inspection capacity.")
    parser.add_argument(
        "--pack", type=int, action="append",
        help="Make this many generated days one production day (repeatable; default 1).",
    )
    parser.add_argument("--one", nargs=2, metavar=("WORLD", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        world, seed = args.one[0], int(args.one[1])
        with tempfile.TemporaryDirectory(prefix="crossline-worklist-") as tmp:
            result = measure(world, seed, args.knrs, args.share, Path(tmp), args.pack[0])
        args.out.write_text(json.dumps(result))
        return
    runs = []
    for world in args.world or WORLDS:
        for seed in args.seed or (2001, 2002):
            for pack in args.pack or (1,):
                with tempfile.NamedTemporaryFile(suffix=".json") as out:
                    subprocess.run(
                        [sys.executable, __file__, "--one", world, str(seed), "--knrs",
                         str(args.knrs), "--share", str(args.share), "--pack", str(pack),
                         "--out", out.name],
                        check=True, cwd=ROOT,
                    )
                    runs.append(json.loads(Path(out.name).read_text()))
                print(report(runs[-1:]).splitlines()[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "worklist.json").write_text(json.dumps(runs, indent=1))
    (RESULTS / "worklist.md").write_text(report(runs))
    print(report(runs))


if __name__ == "__main__":
    main()
