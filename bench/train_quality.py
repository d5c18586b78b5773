"""Benchmark: train on generated data and compare each kind's PR-AUC with the true probabilities'.

Run: `.venv/bin/python bench/train_quality.py [--knrs 5000]` on the embedded default (a
throwaway SQLite database), or `.venv/bin/python -m tests.support.with_mongoeco
.venv/bin/python bench/train_quality.py` for MongoDB. It generates demo data (training/demo.py),
imports it with `import_data`, runs `train --wait`, then scores truth.csv's probabilities on the
very test set the run used (the latest KNRs by production time) and writes
bench/results/train_quality_<database>.md.
"""

import argparse
import os
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=5000, help="Demo vehicles to generate.")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crossline-train-bench-"))
    os.environ.setdefault("CROSSLINE_VAR_DIR", str(workdir / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import pandas as pd
    from django.conf import settings
    from django.core.management import call_command
    from sklearn.metrics import average_precision_score

    from training.demo import generate_demo_data
    from training.models import TrainingRun
    from training.pipeline.steps import build_features, build_labels, clean, split_by_time
    from training.selectors import list_ready_datasets

    database = "mongodb" if settings.USE_MONGODB else "sqlite"
    call_command("migrate", verbosity=0)
    files = generate_demo_data(knrs=args.knrs, out_dir=workdir / "demo", seed=0)
    started = time.perf_counter()
    call_command(
        "import_data", results=[files["results"]], defects=[files["defects"]], stdout=StringIO()
    )
    import_seconds = time.perf_counter() - started
    started = time.perf_counter()
    call_command("train", wait=True, stdout=StringIO())
    train_seconds = time.perf_counter() - started
    run = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).latest("created_at")

    # The run's own test set, rebuilt with the same pure steps from the stored datasets.
    from django.core.files.storage import default_storage

    frames = {}
    for kind in ("results", "defects"):
        parts = []
        for dataset in list_ready_datasets(kind=kind):
            with default_storage.open(dataset.file, "rb") as stored:
                parts.append(pd.read_parquet(stored))
        frames[kind] = pd.concat(parts, ignore_index=True)
    results, defects = clean(frames["results"], frames["defects"])
    features, production_time = build_features(results)
    labels = build_labels(defects, production_time)
    _, test_set = split_by_time(features, labels, production_time, test_share=0.2)
    truth = pd.read_csv(files["truth"]).set_index("KNR").loc[test_set.knrs]

    lines = [
        f"# Model quality against the true probabilities ({database})",
        "",
        f"{args.knrs} demo KNRs (seed 0); import {import_seconds:.0f} s, "
        f"`train --wait` {train_seconds:.0f} s; test set: the latest {len(test_set)} KNRs "
        "by production time. Ratio = model PR-AUC / PR-AUC of truth.csv's probabilities on the "
        "same KNRs.",
        "",
        "| kind | positives in test | model PR-AUC | truth PR-AUC | ratio | recall | threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, metrics in run.metrics.items():
        column = "p_fail" if kind == "fail" else f"p_{kind.removeprefix('group_')}"
        y = test_set.labels[kind]
        truth_pr_auc = average_precision_score(y, truth[column]) if y.sum() else float("nan")
        ratio = metrics["pr_auc"] / truth_pr_auc if metrics["pr_auc"] else float("nan")
        lines.append(
            f"| {kind} | {int(y.sum())} | {metrics['pr_auc']:.3f} | {truth_pr_auc:.3f} | "
            f"{ratio:.3f} | {metrics['recall']:.3f} | {metrics['threshold']:.3f} |"
        )
    for kind, positives in run.skipped.items():
        lines.append(f"| {kind} | skipped: {positives} positives in training | | | | | |")
    out = ROOT / "bench" / "results" / f"train_quality_{database}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
