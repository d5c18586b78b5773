"""Benchmark: one-KNR prediction through `predict_positive`, compiled and through scikit-learn.

Run: `.venv/bin/python bench/predict_door.py [--knrs 3000]`. Trains every kind with the default
pipeline's parameters on generated data (pure steps, no database), then times predicting one
KNR for all kinds at once (features built once, as `predict_frame` does): the compiled paths
(CompiledTrees reads scikit-learn's private tree arrays, CompiledLinear one formula) against
scikit-learn's own `predict_proba`, and writes
bench/results/predict_door.md.
"""

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import sklearn  # noqa: E402

from plant.demo import generate_demo_data  # noqa: E402
from plant.readers.report import ValidationReport  # noqa: E402
from plant.readers.sniff import sniff_export  # noqa: E402
from plant.readers.validation import iter_clean_chunks  # noqa: E402
from training.pipeline import estimators  # noqa: E402
from training.pipeline.definition import DEFAULT_PARAMS  # noqa: E402
from training.pipeline.steps import (  # noqa: E402
    build_features,
    build_labels,
    clean,
    split_by_time,
    train_models,
)


def read(path: Path, kind: str) -> pd.DataFrame:
    report = ValidationReport(kind=kind, filename=path.name)
    info = sniff_export(path, filename=path.name, kind=kind)
    return pd.concat(iter_clean_chunks(info, report=report))


def timed(pipelines: list, rows: pd.DataFrame, repeat: int) -> tuple[list[float], list[float]]:
    """CPU milliseconds per one-KNR prediction of every kind, and the probabilities."""
    times = []
    for _ in range(repeat):
        # CPU time, not wall time: on a shared machine the wall clock measures the neighbours.
        started = time.process_time()
        shared: dict = {}
        with sklearn.config_context(assume_finite=True):
            proba = [float(estimators.predict_positive(p, rows, features=shared).iloc[0])
                     for p in pipelines]
        times.append((time.process_time() - started) * 1000)
    return times, proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=3000, help="Demo vehicles to train on.")
    parser.add_argument("--repeat", type=int, default=50, help="Timed predictions.")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="crossline-door-"))
    paths = generate_demo_data(knrs=args.knrs, out_dir=out, seed=2)
    results, defects = clean(read(paths["results"], "results"), read(paths["defects"], "defects"))
    features, production_time, builder = build_features(results, DEFAULT_PARAMS)
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, DEFAULT_PARAMS["test_share"])
    models = train_models(train, builder, DEFAULT_PARAMS)["models"]
    pipelines = [entry["pipeline"] for entry in models.values()]
    chosen = collections.Counter(entry.get("estimator", "?") for entry in models.values())
    trees = sum(getattr(p[-1], "n_iter_", 0) for p in pipelines)
    rows = results[results["KNR"] == test.knrs[0]]

    timed(pipelines, rows, 5)  # warm-up: compiled arrays built and cached
    compiled, p_compiled = timed(pipelines, rows, args.repeat)
    limit = estimators.CompiledTrees.MAX_ROWS
    estimators.CompiledTrees.MAX_ROWS = 0  # every call takes scikit-learn's path (both kinds)
    plain, p_plain = timed(pipelines, rows, args.repeat)
    estimators.CompiledTrees.MAX_ROWS = limit
    started = time.process_time()
    for _ in range(args.repeat):
        builder.transform(rows)
    features_ms = (time.process_time() - started) * 1000 / args.repeat

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    gap = max(abs(a - b) for a, b in zip(p_compiled, p_plain, strict=True))
    lines = [
        "# One-KNR prediction through `predict_positive`",
        "",
        f"`bench/predict_door.py --knrs {args.knrs}`: {len(pipelines)} kinds (estimators chosen: "
        f"{', '.join(f'{name} × {n}' for name, n in sorted(chosen.items()))}; {trees} trees in "
        f"all; default parameters: {json.dumps(DEFAULT_PARAMS['estimator_options'])}), one KNR "
        f"of {len(rows)} result rows, {args.repeat} timed predictions of every kind; the "
        "features are built once for all kinds. CPU time of this process (a shared 2-core machine "
        "with other jobs running makes wall time meaningless).",
        "",
        "| path | p50 CPU ms | p90 CPU ms |",
        "|---|---|---|",
        f"| compiled (Trees, Linear) | {p(compiled, 50):.1f} | {p(compiled, 90):.1f} |",
        f"| scikit-learn `predict_proba` | {p(plain, 50):.1f} | {p(plain, 90):.1f} |",
        f"| of which the feature row (once) | {features_ms:.1f} | |",
        "",
        f"Largest difference between the two paths' probabilities: {gap:.2e}.",
    ]
    target = ROOT / "bench" / "results" / "predict_door.md"
    target.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
