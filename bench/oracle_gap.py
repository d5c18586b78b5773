"""The fail bar beside what the data allow: crossline's fail model through the product
(`bench/train_quality.py`) and the oracles of `bench/fail_ceiling.py` on the same world, size
and seed, each as a share of truth's PR-AUC on the same judged vehicles.

Run: `.venv/bin/python -m bench.oracle_gap bench/results/worlds_51bf8ec_sqlite.json
bench/results/fail_oracles.json --out oracle_gap` (writes bench/results/oracle_gap.md).

The oracle fits each group's own terms, as the generator draws them, without penalty on the
training vehicles (it knows the structure, not the weights); the time-blind oracle knows
every term but the calendar. Where an oracle is under the bar, no learner can be expected to
reach it from these vehicles.
"""

import argparse
import json
from pathlib import Path
from statistics import mean

from bench.worlds.report import FAIL_RATIO_BAR, fail_ratio

ROOT = Path(__file__).resolve().parents[1]
ORACLES = ("oracle", "oracle_time_blind")


def pairs(worlds: list[dict], oracles: list[dict]) -> list[dict]:
    """One row per world, size and seed both files hold: crossline's fail share and the
    oracles'."""
    known = {(o["world"], o["knrs"], o["seed"]): o for o in oracles}
    rows = []
    for entry in worlds:
        key = (entry["world"], entry["knrs"], entry["seed"])
        crossline = fail_ratio(entry)
        if key in known and crossline is not None:
            rows.append({"world": key[0], "knrs": key[1], "seed": key[2],
                         "crossline": crossline, **{n: known[key][n] for n in ORACLES}})
    return sorted(rows, key=lambda r: (r["world"], r["knrs"], r["seed"]))


def report(rows: list[dict], command: str) -> str:
    lines = [
        "# The fail bar beside what the data allow",
        "",
        f"Command: `{command}`",
        "",
        *(part.strip().replace("\n", " ") + "\n" for i, part in enumerate(__doc__.split("\n\n"))
          if i != 1),
        "| world | vehicles | seed | crossline | oracle | oracle, time-blind |",
        "|---|---|---|---|---|---|",
        *(f"| {r['world']} | {r['knrs']} | {r['seed']} | {r['crossline']:.3f} "
          f"| {r['oracle']:.3f} | {r['oracle_time_blind']:.3f} |" for r in rows),
        "",
        f"Means, and how many seeds reach the bar ({FAIL_RATIO_BAR}):",
        "",
        "| world | vehicles | seeds | crossline | oracle | oracle, time-blind "
        "| crossline / time-blind oracle |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["world"], r["knrs"]), []).append(r)
    for (world, knrs), part in groups.items():
        cells = [
            f"{mean(r[n] for r in part):.3f} ({sum(r[n] >= FAIL_RATIO_BAR for r in part)} "
            f"of {len(part)})"
            for n in ("crossline", *ORACLES)
        ]
        ratio = mean(r["crossline"] / r["oracle_time_blind"] for r in part)
        lines.append(f"| {world} | {knrs} | {len(part)} | {' | '.join(cells)} | {ratio:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("worlds", type=Path)
    parser.add_argument("oracles", type=Path)
    parser.add_argument("--out", default="oracle_gap")
    args = parser.parse_args()
    rows = pairs(json.loads(args.worlds.read_text()), json.loads(args.oracles.read_text()))
    command = f".venv/bin/python -m bench.oracle_gap {args.worlds} {args.oracles} --out {args.out}"
    (ROOT / "bench" / "results" / f"{args.out}.md").write_text(report(rows, command))


if __name__ == "__main__":
    main()
