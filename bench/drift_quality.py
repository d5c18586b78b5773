"""Benchmark: does the monthly drift check find a drifting station on demo data, and only then?

Run: `.venv/bin/python bench/drift_quality.py [--knrs 16000] [--seed 41] [--shift-sds 1.0]`.
One demo set (plant/demo.py) is split alternately by KNR: the reference half is trained on
by the pipeline's own steps (features, labels, split by time, models, importances as a version
stores them), and its drift reference is built (mlmodels/drift.py); the checked half, twelve
months of independent vehicles, is checked month by month for every kind, as it is and with
the readings of the fail model's 5 strongest tests raised by `--shift-sds` standard deviations
from the seventh month on. It also compares each binned normed Wasserstein distance with the
exact one (scipy's `wasserstein_distance` on the raw values), at 20 and 32 bins. Writes
bench/results/drift_quality.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drift_demo import demo_halves, months_of, shift_tests, strongest_tests  # noqa: E402
from crossline.domain import FAIL_KIND  # noqa: E402
from mlmodels import drift  # noqa: E402
from training.pipeline import explain  # noqa: E402
from training.pipeline.definition import DEFAULT_PARAMS  # noqa: E402
from training.pipeline.steps import (  # noqa: E402
    build_labels,
    evaluate,
    production_times,
    split_by_time,
    train_models,
)

RESULTS_MD = ROOT / "bench" / "results" / "drift_quality.md"
# A version's diagnostics keep as many top features as the drift alarm considers.
assert explain.TOP_FEATURES >= drift.ALARM_TOP_COLUMNS
SHIFTED_TESTS = 5
SHIFT_MONTH_INDEX = 6  # the seventh month of the checked half


def importances_by_kind(halves, log) -> dict[str, list[list[Any]]]:
    """Each trained kind's top features as its version would store them (diagnostics)."""
    labels = build_labels(halves.reference_defects, halves.reference_times)
    train, test = split_by_time(
        halves.reference_features, labels, halves.reference_times, DEFAULT_PARAMS["test_share"]
    )
    trained = train_models(train, halves.builder, DEFAULT_PARAMS, log=log)
    evaluated = evaluate(trained, test, halves.reference_results)
    found = {}
    for kind, entry in evaluated["models"].items():
        y_test = test.labels[kind] if kind in test.labels else pd.Series(0, index=test.knrs)
        with threadpool_limits(limits=1):
            explained = explain.top_features(entry["pipeline"][1:], test.features, y_test)
        found[kind] = explained.get("features", [])
    return found


def check_months(features: pd.DataFrame, months: pd.Series, references: dict) -> dict:
    """kind → month → (judgement, comparison) for every month of `features`."""
    checked: dict[str, dict[str, Any]] = {kind: {} for kind in references}
    for month in sorted(months.unique()):
        rows = features[(months == month).to_numpy()]
        for kind, reference in references.items():
            checked[kind][month] = drift.check_month(rows, reference)
    return checked


def binned_against_exact(
    reference_features: pd.DataFrame, features: pd.DataFrame, months: pd.Series,
    reference: dict, columns: list[str],
) -> list[float]:
    """binned − exact normed Wasserstein, per numeric column and month."""
    differences = []
    for month in sorted(months.unique()):
        rows = features[(months == month).to_numpy()]
        compared = drift.compare(drift.summarise(rows, reference), reference)["columns"]
        for name in columns:
            if reference["columns"][name]["kind"] != drift.NUMERIC:
                continue
            ref = reference_features[name].to_numpy(dtype=np.float64)
            now = rows[name].to_numpy(dtype=np.float64)
            ref, now = ref[np.isfinite(ref)], now[np.isfinite(now)]
            if not len(now):
                continue
            exact = wasserstein_distance(ref, now) / max(float(np.std(ref)), drift.STD_FLOOR)
            differences.append(compared[name]["score"] - exact)
    return differences


def measure(knrs: int, seed: int, shift_sds: float) -> dict[str, Any]:
    """One seed: train on the reference half, check the other half as is and shifted."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crossline-drift-") as tmp:
        halves = demo_halves(knrs=knrs, seed=seed, out=Path(tmp))
    timings["generate, import, features"] = time.perf_counter() - started

    step = time.perf_counter()
    importances = importances_by_kind(halves, log=lambda message: None)
    timings["train (importances)"] = time.perf_counter() - step

    step = time.perf_counter()
    reference_months = months_of(halves.reference_times)
    base = drift.build_reference(halves.reference_features, reference_months)
    timings["build reference (all kinds share it)"] = time.perf_counter() - step
    references = {
        kind: {**base, **drift.rank_columns(base, imp)} for kind, imp in importances.items()
    }
    base20 = drift.build_reference(halves.reference_features, reference_months, bins=20)

    features = halves.builder.transform(halves.checked_results)
    months = months_of(production_times(halves.checked_results)).reindex(features.index)
    step = time.perf_counter()
    unshifted = check_months(features, months, references)
    timings["check 12 months × kinds (summarise + compare + judge)"] = time.perf_counter() - step

    tests = strongest_tests(
        references[FAIL_KIND]["ranking"], halves.reference_results, SHIFTED_TESTS
    )
    since = pd.Timestamp(f"{sorted(months.unique())[SHIFT_MONTH_INDEX]}-01")
    shifted_results = shift_tests(halves.checked_results, tests, since, shift_sds)
    shifted_features = halves.builder.transform(shifted_results)
    shifted = check_months(shifted_features, months.reindex(shifted_features.index), references)

    numeric = [name for name, column in base["columns"].items() if column["kind"] == drift.NUMERIC]
    differences = {
        (bins, "unshifted"): np.abs(
            binned_against_exact(halves.reference_features, features, months, ref, numeric)
        )
        for bins, ref in ((drift.BINS, base), (20, base20))
    }
    differences[(drift.BINS, "shifted")] = np.abs(
        binned_against_exact(halves.reference_features, shifted_features, months, base, numeric)
    )
    return {
        "seed": seed,
        "reference_vehicles": len(halves.reference_features),
        "base": base,
        "references": references,
        "importances": importances,
        "unshifted": unshifted,
        "shifted": shifted,
        "tests": tests,
        "since": since,
        "differences": differences,
        "timings": timings,
        "size": len(json.dumps(references[FAIL_KIND])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=16_000, help="vehicles generated (both halves)")
    parser.add_argument("--seed", type=int, action="append",
                        help="demo data seed (repeat for several; default 41 and 43)")
    parser.add_argument("--shift-sds", type=float, default=1.0,
                        help="how far the shifted tests move, in their standard deviations")
    parser.add_argument("--report", type=Path, default=RESULTS_MD, help="markdown output")
    args = parser.parse_args()
    seeds = args.seed or [41, 43]
    runs = [measure(args.knrs, seed, args.shift_sds) for seed in seeds]
    report = "\n".join(render(args, run) for run in runs)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report, encoding="utf-8")
    print(report)


def render(args: argparse.Namespace, run: dict[str, Any]) -> str:
    base, references, importances = run["base"], run["references"], run["importances"]
    unshifted, shifted, tests, since = run["unshifted"], run["shifted"], run["tests"], run["since"]
    kinds = list(references)
    months = sorted(next(iter(unshifted.values())))
    kinds_count = {kind: len(importances[kind]) for kind in kinds}
    columns = base["columns"]
    kinds_by = {
        kind: sum(1 for c in columns.values() if c["kind"] == kind)
        for kind in (drift.NUMERIC, drift.CATEGORICAL, drift.CONSTANT)
    }
    checked_vehicles = sum(j["judgement"]["vehicles"] for j in unshifted[kinds[0]].values())
    lines = [
        f"# Drift check on demo data, seed {run['seed']}",
        "",
        f"`bench/drift_quality.py --knrs {args.knrs} --seed {run['seed']} --shift-sds "
        f"{args.shift_sds}`: {run['reference_vehicles']:,} reference vehicles "
        f"({len(base['months'])} months) and {checked_vehicles:,} "
        f"checked vehicles ({len(months)} months), {len(columns)} feature columns "
        f"({kinds_by[drift.NUMERIC]} numeric, {kinds_by[drift.CATEGORICAL]} categorical, "
        f"{kinds_by[drift.CONSTANT]} constant), {drift.BINS} bins. Reference of one kind as JSON: "
        f"{run['size'] / 1024:.0f} KiB. Rule: alarm when more of the "
        f"{drift.ALARM_TOP_COLUMNS} columns the model relies on most (importance above 0) drifted "
        f"than chance explains in {drift.ALARM_PROBABILITY:.1%} of months; "
        f"{drift.MIN_VEHICLES} vehicles at least.",
        "",
        "Columns with an importance per kind (the model relies on them): "
        + ", ".join(f"{kind} {kinds_count[kind]}" for kind in kinds) + ".",
        "",
        "## Binned against exact normed Wasserstein distance",
        "",
        "Every numeric column, every checked month: |binned − exact| (exact: scipy's "
        "`wasserstein_distance` on the raw values / max(reference std, 0.001)).",
        "",
        "| bins | data | pairs | median | p99 | max | over 0.01 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (bins, label), diff in run["differences"].items():
        lines.append(_diff_row(bins, label, diff))
    lines += [
        "",
        "## Twelve unshifted months",
        "",
        "Share of the considered columns drifted, per kind and month (**bold**: alarm).",
        "",
        *_month_table(unshifted, kinds, months),
        "",
        f"## {len(tests)} strongest tests of the fail model shifted by {args.shift_sds:g} sd "
        f"from {since:%Y-%m-%d}",
        "",
        "Shifted: " + ", ".join(f"`{t}`" for t in tests) + ".",
        "",
        *_month_table(shifted, kinds, months),
        "",
    ]
    fail = shifted[FAIL_KIND]
    first = [m for m in months if fail[m]["judgement"]["alarm"]]
    named = sorted({
        test for m in months if m >= f"{since:%Y-%m}"
        for c in fail[m]["judgement"]["all_drifted"]
        for test in [c.split("|")[1] if "|" in c else ""] if test in tests
    })
    false_alarms = sum(
        j["judgement"]["alarm"] for kind in kinds for j in unshifted[kind].values()
    )
    lines += [
        f"Fail kind: first alarm {first[0] if first else 'none'}; alarms in "
        f"{len(first)} of {len(months)} months; shifted tests named among the drifted columns "
        f"from the shift on: {len(named)} of {len(tests)}. Unshifted: {false_alarms} alarms over "
        f"{len(kinds)} kinds × {len(months)} months.",
        "",
        "## Timings",
        "",
        "| step | s |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in run["timings"].items()),
        "",
    ]
    return "\n".join(lines)


def _diff_row(bins: int, label: str, diff: np.ndarray) -> str:
    if not len(diff):
        return f"| {bins} | {label} | 0 | | | | |"
    return (
        f"| {bins} | {label} | {len(diff)} | {np.median(diff):.4f} | "
        f"{np.quantile(diff, 0.99):.4f} | {diff.max():.4f} | {int((diff > 0.01).sum())} |"
    )


def _month_table(checked: dict, kinds: list[str], months: list[str]) -> list[str]:
    lines = [
        "| kind | " + " | ".join(m[2:] for m in months) + " |",
        "|---|" + "---:|" * len(months),
    ]
    for kind in kinds:
        cells = []
        for month in months:
            judgement = checked[kind][month]["judgement"]
            cell = f"{judgement['drifted_share']:.2f}"
            if judgement["status"] == drift.TOO_FEW:
                cell = f"({judgement['vehicles']})"
            cells.append(f"**{cell}**" if judgement["alarm"] else cell)
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
