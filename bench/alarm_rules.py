"""Benchmark: candidate alarm rules replayed on the month checks `bench/drift_e2e.py` stored.

Run: `.venv/bin/python bench/alarm_rules.py drift_e2e_seed0 drift_e2e_seed2 …` (names of
bench/results/<name>.json.gz written by drift_e2e.py with their per-column checks). Each
scenario pair (shifted, unshifted) is read; every drift rule and performance rule is applied
to every checked month not trained on, and the alarms counted: months after the shift
(should alarm), months before it and unshifted months (should not). Writes
bench/results/alarm_rules.md.
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from mlmodels import drift, estimation  # noqa: E402


def considered(check: dict[str, Any]) -> list[tuple[str, bool, float]]:
    """(column, drifted, importance) of the columns with an importance, most important first."""
    columns = [(n, bool(d), float(imp or 0.0), rank or 10**6)
               for n, (d, imp, rank) in check["columns"].items()]
    relied = [c for c in columns if c[2] > 0] or columns
    return [(n, d, imp) for n, d, imp, _ in sorted(relied, key=lambda c: c[3])]


def count_share(share: float, top: int = 50) -> Callable[[dict[str, Any]], bool]:
    def rule(check: dict[str, Any]) -> bool:
        cols = considered(check)[:top]
        drifted = sum(d for _, d, _ in cols)
        return bool(cols) and drifted / len(cols) >= share - 1e-12 and drifted >= min(2, len(cols))
    return rule


def weighted_share(share: float) -> Callable[[dict[str, Any]], bool]:
    def rule(check: dict[str, Any]) -> bool:
        cols = considered(check)
        total = sum(imp for _, _, imp in cols)
        moved = sum(imp for _, d, imp in cols if d)
        drifted = sum(d for _, d, _ in cols)
        return total > 0 and moved / total >= share and drifted >= min(2, len(cols))
    return rule


def binomial(rate: float, alpha: float, top: int = 50) -> Callable[[dict[str, Any]], bool]:
    def rule(check: dict[str, Any]) -> bool:
        cols = considered(check)[:top]
        k = sum(d for _, d, _ in cols)
        n = len(cols)
        tail = sum(math.comb(n, i) * rate**i * (1 - rate) ** (n - i) for i in range(k, n + 1))
        return k >= 1 and tail <= alpha
    return rule


def as_judged(check: dict[str, Any]) -> bool:
    """mlmodels.drift.judge_month itself on the stored check."""
    names = sorted(check["columns"], key=lambda n: check["columns"][n][2] or 10**6)
    reference = {"ranking": names,
                 "importance": {n: c[1] for n, c in check["columns"].items() if c[1]}}
    comparison = {"vehicles": check["vehicles"],
                  "columns": {n: {"drifted": c[0]} for n, c in check["columns"].items()}}
    return drift.judge_month(comparison, reference)["alarm"]


DRIFT_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "count ≥ 1/3 of top 50 (before)": count_share(1 / 3),
    "count ≥ 1/4 of top 50": count_share(1 / 4),
    "count ≥ 1/5 of top 50": count_share(1 / 5),
    "importance share ≥ 0.10": weighted_share(0.10),
    "importance share ≥ 0.15": weighted_share(0.15),
    "importance share ≥ 0.20": weighted_share(0.20),
    "importance share ≥ 0.25": weighted_share(0.25),
    "importance share ≥ 0.33": weighted_share(1 / 3),
    "binomial p0=1%, α=0.001, top 50": binomial(0.01, 0.001),
    "binomial p0=2%, α=0.001, top 50": binomial(0.02, 0.001),
    "binomial p0=1%, α=0.001, or importance share ≥ 0.20": lambda check: (
        binomial(0.01, 0.001)(check) or weighted_share(0.20)(check)),
    f"chosen: drift.judge_month (binomial p0={drift.CHANCE_DRIFT:.0%}, "
    f"α={drift.ALARM_PROBABILITY:g}, top {drift.ALARM_TOP_COLUMNS})": as_judged,
}


def n_for(metric: str, values: dict[str, Any], vehicles: int) -> float | None:
    """The count a metric is a share of: flagged vehicles (precision), positives (recall),
    all vehicles (flagged share)."""
    flagged = (values.get("flagged_share") or 0.0) * vehicles
    if metric == "flagged_share":
        return vehicles
    if metric == "precision":
        return flagged
    if not values.get("recall") or values.get("precision") is None:
        return None
    return values["precision"] * flagged / values["recall"]


def band_rule(widen: bool, sigmas: float = 3.0) -> Callable[[dict[str, Any]], list[str]]:
    def rule(check: dict[str, Any]) -> list[str]:
        outside = []
        for metric in ("precision", "recall", "flagged_share"):
            band = (check["band"] or {}).get(metric)
            value = (check["estimate"] or {}).get(metric)
            if band is None or value is None:
                continue
            n = n_for(metric, check["estimate"], check["vehicles"]) if widen else 0
            limits = estimation.month_band(band, n or 0.0)
            half = (limits["upper"] - limits["lower"]) if limits else 0
            if sigmas != estimation.BAND_SIGMAS:  # the same band at another number of sds
                mean = band["mean"]
                scale = sigmas / estimation.BAND_SIGMAS
                limits = {"lower": mean - scale * (mean - limits["lower"]),
                          "upper": mean + scale * (limits["upper"] - mean)}
            if half and not limits["lower"] <= value <= limits["upper"]:
                outside.append(metric)
        return outside
    return rule


PERFORMANCE_RULES = {
    "estimate outside mean ± 3 sd of reference months (before)": band_rule(False),
    "chosen: … ± 3 √(sd² + m(1−m)/n of the month) (estimation.month_band)": band_rule(True),
    "… ± 2.5 √(sd² + m(1−m)/n of the month)": band_rule(True, 2.5),
}


def wilson(successes: float, n: float, z: float = 3.0) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def checked(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in result["check_rows"] if not c["trained_on"] and c["vehicles"] >= 500]


def moved(result: dict[str, Any], check: dict[str, Any]) -> bool:
    return bool(result["drift_from"]) and check["month"] >= result["drift_from"][:7]


def evaluate(name: str, results: dict[str, Any]) -> list[str]:
    shifted, unshifted = results["shifted"], results["unshifted"]
    kinds = sorted({c["kind"] for c in checked(unshifted)})
    lines = [f"## {name}: seed {shifted.get('seed', 0)}, {', '.join(shifted['shifted_tests'])} "
             f"moved by {shifted.get('drift_sds', -1.0):+g} sd from {shifted['drift_from']}", "",
             "Drift rules: kind-months alarmed (shifted scenario after the shift / before it; "
             "unshifted scenario), and the kinds that never alarm after the shift.", "",
             "| rule | after shift | before shift | unshifted | kinds silent after shift |",
             "|---|---|---|---|---|"]
    for label, rule in DRIFT_RULES.items():
        after = [c for c in checked(shifted) if moved(shifted, c)]
        before = [c for c in checked(shifted) if not moved(shifted, c)]
        silent = [k for k in kinds if not any(rule(c) for c in after if c["kind"] == k)]
        lines.append(f"| {label} | {sum(map(rule, after))}/{len(after)} | "
                     f"{sum(map(rule, before))}/{len(before)} | "
                     f"{sum(map(rule, checked(unshifted)))}/{len(checked(unshifted))} | "
                     f"{', '.join(silent) or '–'} |")
    lines += ["", "Importance share that drifted per kind (largest unshifted month; smallest "
              "shifted month after the shift):", "",
              "| kind | unshifted max | shifted min after |", "|---|---|---|"]
    for kind in kinds:
        def share(c: dict[str, Any]) -> float:
            cols = considered(c)
            total = sum(imp for _, _, imp in cols)
            return sum(imp for _, d, imp in cols if d) / total if total else 0.0
        quiet = [share(c) for c in checked(unshifted) if c["kind"] == kind]
        loud = [share(c) for c in checked(shifted) if c["kind"] == kind and moved(shifted, c)]
        lines.append(f"| {kind} | {max(quiet):.3f} | {min(loud):.3f} |")
    lines += ["", "Performance rules: kind-months alarmed.", "",
              "| rule | shifted, after | shifted, before | unshifted |", "|---|---|---|---|"]
    for label, rule in PERFORMANCE_RULES.items():
        after = [c for c in checked(shifted) if moved(shifted, c) and c["estimate"]]
        before = [c for c in checked(shifted) if not moved(shifted, c) and c["estimate"]]
        quiet = [c for c in checked(unshifted) if c["estimate"]]
        lines.append(f"| {label} | {sum(bool(rule(c)) for c in after)}/{len(after)} | "
                     f"{sum(bool(rule(c)) for c in before)}/{len(before)} | "
                     f"{sum(bool(rule(c)) for c in quiet)}/{len(quiet)} |")
    lines += ["", "Unshifted months with realised metrics: the estimate against the realised "
              "value's Wilson interval (z = 3) from the month's counts.", "",
              "| kind | months | precision est. / realised (mean) | inside | "
              "recall est. / realised (mean) | inside | positives a month |",
              "|---|---|---|---|---|---|---|"]
    for kind in kinds:
        months = [c for c in checked(unshifted) if c["kind"] == kind and c["realised"]
                  and c["estimate"]]
        cells = [kind, str(len(months))]
        positives = []
        for metric in ("precision", "recall"):
            est, real, inside = [], [], 0
            for c in months:
                e, r = c["estimate"].get(metric), c["realised"].get(metric)
                n = n_for(metric, c["realised"], c["vehicles"])
                if e is None or r is None or not n:
                    continue
                if metric == "recall":
                    positives.append(n)
                est.append(e)
                real.append(r)
                low, high = wilson(r * n, n)
                inside += low <= e <= high
            cells += [f"{sum(est) / len(est):.3f} / {sum(real) / len(real):.3f}" if est else "–",
                      f"{inside}/{len(est)}"]
        cells.append(f"{min(positives):.0f}–{max(positives):.0f}" if positives else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    names = sys.argv[1:]
    lines = ["# Alarm rules replayed on the monthly checks", "",
             f"`bench/alarm_rules.py {' '.join(names)}` (see its docstring), on the checks "
             "`bench/drift_e2e.py` stored (12,000 demo vehicles a year, default pipeline).", ""]
    for name in names:
        stored = gzip.decompress((RESULTS / f"{name}.json.gz").read_bytes())
        lines += evaluate(name, json.loads(stored))
    (RESULTS / "alarm_rules.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
