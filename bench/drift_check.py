"""Benchmark: the cost of checking one production month for drift, at plant sizes.

Run: `.venv/bin/python bench/drift_check.py [--rows 1M --rows 2M] [--shape default]`.
For each size, a first process generates demo exports of about that many result rows
(plant/demo.py), reads them with the importer and stores them as Parquet, as imports store
them, then fits a feature builder and drift references on the first vehicles, as training
would (not timed). A second process, whose peak memory is the check's alone, checks the month
as the monthly check will, each step timed: read the month's Parquet, build its feature rows
with the fitted builder (in KNR ranges of about 2M rows, as training does), summarise them
into the reference's bins (part by part, merged), and compare and judge every kind (9
references sharing the bins). Writes bench/results/drift_check.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS_MD = ROOT / "bench" / "results" / "drift_check.md"
SHAPES = {"default": 40, "plant": 800}  # tests_per_knr given to the generator (bench/run.py)
REFERENCE_VEHICLES = {"default": 12_000, "plant": 2_000}
KINDS = 9


def parse_size(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * factor)


def prepare(rows: int, shape: str, workdir: Path) -> dict[str, Any]:
    """Generate and store the month; fit the builder and the references as training would."""
    import joblib
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.drift_demo import months_of, read_export
    from mlmodels import drift
    from plant.demo import generate_demo_data
    from training.pipeline.definition import DEFAULT_PARAMS
    from training.pipeline.features import ResultFeatures
    from training.pipeline.steps import load_datasets, normalise_results, production_times

    per_knr = 39 if shape == "default" else 779  # rows per vehicle the generator writes
    started = time.perf_counter()
    paths = generate_demo_data(
        knrs=max(1, round(rows / per_knr)), out_dir=workdir / "demo", seed=7,
        tests_per_knr=SHAPES[shape],
    )
    generated = time.perf_counter() - started
    results = read_export(paths["results"], "results")
    pq.write_table(pa.Table.from_pandas(results, preserve_index=False), workdir / "month.parquet")
    del results
    month = normalise_results(load_datasets(workdir / "month.parquet", None)[0])
    first = np.sort(month["KNR"].astype("string").unique())[: REFERENCE_VEHICLES[shape]]
    reference_rows = month[month["KNR"].astype("string").isin(set(first.tolist()))]
    builder = ResultFeatures(
        max_tests=int(DEFAULT_PARAMS["max_tests"]),
        time_features=bool(DEFAULT_PARAMS["time_features"]),
        section_means=bool(DEFAULT_PARAMS["section_means"]),
    ).fit(reference_rows)
    base = drift.build_reference(
        builder.transform(reference_rows),
        months_of(production_times(reference_rows)).to_numpy(),
    )
    rng = np.random.default_rng(0)
    names = list(base["columns"])
    references = [
        {**base, **drift.rank_columns(base, dict(zip(names, rng.random(len(names)), strict=True)))}
        for _ in range(KINDS)
    ]
    joblib.dump(builder, workdir / "builder.joblib")
    (workdir / "references.json").write_text(json.dumps(references))
    return {"generate_s": round(generated, 1), "reference_kib": round(len(json.dumps(base)) / 1024)}


def check(workdir: Path) -> dict[str, Any]:
    """Time checking the stored month, as the monthly check will, in a fresh process."""
    import joblib
    import numpy as np
    import pandas as pd

    from mlmodels import drift
    from training.pipeline.steps import FEATURE_CHUNK_ROWS, load_datasets, normalise_results

    builder = joblib.load(workdir / "builder.joblib")  # written by this benchmark just before
    references = json.loads((workdir / "references.json").read_text())
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name: str, function):
        wall, clock = time.perf_counter(), time.process_time()
        value = function()
        timings[name] = time.perf_counter() - wall
        cpu[name] = time.process_time() - clock
        return value

    month = timed(
        "read Parquet",
        lambda: normalise_results(load_datasets(workdir / "month.parquet", None)[0]),
    )

    def features_in_ranges() -> list[pd.DataFrame]:
        knr, _ = pd.factorize(month["KNR"], sort=True)
        rows_up_to = np.cumsum(np.bincount(knr[knr >= 0]))
        cuts = np.searchsorted(rows_up_to, np.arange(0, len(knr), FEATURE_CHUNK_ROWS), "right")
        edges = np.unique(np.r_[cuts, len(rows_up_to)])
        return [
            builder.transform(month[(knr >= low) & (knr < high)])
            for low, high in zip(edges[:-1], edges[1:], strict=True)
        ]

    parts = timed("build features", features_in_ranges)
    summary = timed(
        "summarise",
        lambda: drift.merge_summaries(drift.summarise(p, references[0]) for p in parts),
    )
    verdicts = timed(
        f"compare + judge ({KINDS} kinds)",
        lambda: [drift.judge_month(drift.compare(summary, r), r) for r in references],
    )
    kinds_of = [c["kind"] for c in references[0]["columns"].values()]
    return {
        "rows": len(month),
        "vehicles": sum(len(p) for p in parts),
        "columns": len(kinds_of),
        "numeric": kinds_of.count(drift.NUMERIC),
        "categorical": kinds_of.count(drift.CATEGORICAL),
        "summary_kib": round(len(json.dumps(summary)) / 1024),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "cpu": {k: round(v, 2) for k, v in cpu.items()},
        "total_s": round(sum(timings.values()), 2),
        "total_cpu_s": round(sum(cpu.values()), 2),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "alarms": sum(v["alarm"] for v in verdicts),
    }


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(runs: list[dict[str, Any]], load: str) -> str:
    steps = list(runs[0]["timings"])
    lines = [
        "# Checking a month for drift",
        "",
        "`bench/drift_check.py`: each check in a process of its own on this shared 2-CPU machine "
        f"({load}); wall seconds (CPU seconds in brackets). The month's rows are read from "
        "Parquet as imports store them; features built in KNR ranges of about 2M rows; "
        f"{KINDS} kinds compared with references sharing one set of bins ({32} per numeric "
        "column).",
        "",
        "| shape | rows | vehicles | columns (numeric / categorical) | "
        + " | ".join(steps) + " | total s (CPU s) | peak MiB | reference KiB | summary KiB |",
        "|---|---:|---:|---|" + "---:|" * (len(steps) + 4),
    ]
    for run in runs:
        cells = [f"{run['timings'][s]:.2f} ({run['cpu'][s]:.2f})" for s in steps]
        lines.append(
            f"| {run['shape']} | {run['rows']:,} | {run['vehicles']:,} | {run['columns']} "
            f"({run['numeric']} / {run['categorical']}) | " + " | ".join(cells)
            + f" | {run['total_s']:.1f} ({run['total_cpu_s']:.1f}) | {run['peak_mib']:,} "
            f"| {run['reference_kib']} "
            f"| {run['summary_kib']} |"
        )
    by_shape: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_shape.setdefault(run["shape"], []).append(run)
    lines.append("")
    for shape, group in by_shape.items():
        group = sorted(group, key=lambda r: r["rows"])
        if len(group) < 2:
            continue
        small, large = group[0], group[-1]
        ratio = large["rows"] / small["rows"]
        growth = ", ".join(
            f"{step} {large['timings'][step] / max(small['timings'][step], 1e-9):.1f}×"
            for step in steps
        )
        cpu_growth = large["total_cpu_s"] / small["total_cpu_s"]
        lines.append(
            f"Growth of the wall time at the {shape} shape for {ratio:.1f}× the rows: {growth}; "
            f"total {large['total_s'] / small['total_s']:.1f}× (CPU {cpu_growth:.1f}×)."
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="append", help="result rows (1M, 2M, 20M); repeatable")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES),
                        help="rows per vehicle: the generator's default or the plant's")
    parser.add_argument("--report", type=Path, default=RESULTS_MD, help="markdown output")
    parser.add_argument("--prepare", nargs=3, metavar=("ROWS", "SHAPE", "DIR"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--check", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        rows, shape, folder = args.prepare
        print(json.dumps(prepare(int(rows), shape, Path(folder))))
        return
    if args.check:
        print(json.dumps(check(Path(args.check))))
        return
    runs = []
    for shape in args.shape or ["default"]:
        for size in args.rows or ["1M", "2M"]:
            rows = parse_size(size)
            print(f"{shape} shape, {rows:,} rows", flush=True)
            with tempfile.TemporaryDirectory(prefix="crossline-drift-check-") as tmp:
                prepared = _child("--prepare", str(rows), shape, tmp)
                # The check in a process of its own: its peak memory is the check's alone.
                runs.append({"shape": shape, **prepared, **_child("--check", tmp)})
            print(json.dumps(runs[-1]), flush=True)
    load = f"load average {os.getloadavg()[0]:.1f} at the end"
    report = render(runs, load)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
