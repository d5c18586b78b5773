"""Compare the candidate estimators on generated demo data, split by production time."""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crossline.domain import FAIL_KIND, GROUP_PREFIX  # noqa: E402
from plant.demo import generate_demo_data  # noqa: E402
from plant.readers.report import ValidationReport  # noqa: E402
from plant.readers.sniff import sniff_export  # noqa: E402
from plant.readers.validation import iter_clean_chunks  # noqa: E402
from training.pipeline.definition import DEFAULT_PARAMS  # noqa: E402
from training.pipeline.estimators import ESTIMATORS  # noqa: E402
from training.pipeline.steps import (  # noqa: E402
    TrainingData,
    build_features,
    build_labels,
    clean,
    evaluate,
    split_by_time,
    train_models,
)

RESULTS_MD = ROOT / "bench" / "results" / "compare_estimators.md"


def read_export(path: Path, kind: str) -> pd.DataFrame:
    """Normalise one raw demo export with the importer, as an upload would."""
    report = ValidationReport(kind=kind, filename=path.name)
    info = sniff_export(path, filename=path.name, kind=kind)
    chunks = list(iter_clean_chunks(info, report=report, chunk_rows=500_000))
    return pd.concat(chunks, ignore_index=True)


def truth_column(kind: str) -> str:
    """Return the truth.csv column holding the true probability of a model kind."""
    return "p_fail" if kind == FAIL_KIND else f"p_{kind.removeprefix(GROUP_PREFIX)}"


def truth_pr_auc(truth: pd.DataFrame, test: TrainingData, kind: str) -> float | None:
    """Return the PR-AUC the true probabilities reach on the test KNRs (the ceiling)."""
    column = truth_column(kind)
    if column not in truth.columns or kind not in test.labels.columns:
        return None
    y = test.labels[kind]
    if y.sum() == 0:
        return None
    proba = truth[column].reindex(test.knrs)
    return float(average_precision_score(y, proba.fillna(0.0)))


def main() -> None:
    """Generate, normalise, split, then train and score every estimator; write a report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--knrs", type=int, default=5000, help="vehicles to generate")
    parser.add_argument("--seed", type=int, default=0, help="demo data seed")
    parser.add_argument("--out", type=Path, default=Path("/tmp/crossline-demo"),
                        help="folder for the demo exports")
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), help="names")
    parser.add_argument("--report", type=Path, default=RESULTS_MD, help="markdown output")
    args = parser.parse_args()

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    generate_demo_data(knrs=args.knrs, out_dir=args.out, seed=args.seed)
    generated = time.perf_counter()
    results = read_export(args.out / "results.csv.gz", "results")
    defects = read_export(args.out / "defects.csv", "defects")
    truth = pd.read_csv(args.out / "truth.csv", dtype={"KNR": str}).set_index("KNR")
    ingested = time.perf_counter()
    results, defects = clean(results, defects)
    features_started = time.perf_counter()
    features, production_time, builder = build_features(results, DEFAULT_PARAMS)
    features_seconds = time.perf_counter() - features_started
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, DEFAULT_PARAMS["test_share"])
    print(f"{len(results)} result rows, {features.shape[1]} features, train {len(train)}, "
          f"test {len(test)}; generate {generated - started:.0f}s, "
          f"ingest {ingested - generated:.0f}s, features {features_seconds:.1f}s")

    rows: list[dict[str, Any]] = []
    for name in args.estimators:
        params = {**DEFAULT_PARAMS, "estimator": name}
        fit_started = time.perf_counter()
        trained = train_models(train, builder, params, log=print)
        fit_seconds = time.perf_counter() - fit_started
        evaluated = evaluate(trained, test, results)
        for kind, entry in evaluated["models"].items():
            metrics = entry["metrics"]
            ceiling = truth_pr_auc(truth, test, kind)
            rows.append({
                "estimator": name,
                "kind": kind,
                "test_pos": metrics["support"]["positives"],
                "pr_auc": metrics["pr_auc"],
                "truth_pr_auc": ceiling,
                "ratio": None if ceiling in (None, 0) or metrics["pr_auc"] is None
                else metrics["pr_auc"] / ceiling,
                "roc_auc": metrics["roc_auc"],
                "recall": metrics["recall"],
                "precision": metrics["precision"],
                "mcc": metrics["mcc"],
                "threshold": metrics["threshold"],
                "fit_s (kind)": entry["fit_seconds"],
            })
        for kind, positives in evaluated["skipped"].items():
            rows.append({"estimator": name, "kind": kind, "test_pos": None,
                         "pr_auc": None, "ratio": None, "fit_s (kind)": None,
                         "recall": f"skipped ({positives} train positives)"})
        print(f"{name}: all kinds fitted in {fit_seconds:.1f}s")
        rows.append({"estimator": name, "kind": "(all kinds)", "fit_s (kind)": fit_seconds})

    table = pd.DataFrame(rows)
    summary = (
        table[table["kind"] == FAIL_KIND]
        .set_index("estimator")[["pr_auc", "truth_pr_auc", "ratio", "roc_auc", "recall"]]
    )
    kinds = table[~table["kind"].isin([FAIL_KIND, "(all kinds)"]) & table["ratio"].notna()]
    summary["mean_group_ratio"] = kinds.groupby("estimator")["ratio"].mean()
    summary["fit_s_all_kinds"] = (
        table[table["kind"] == "(all kinds)"].set_index("estimator")["fit_s (kind)"]
    )
    lines = [
        "# Estimator comparison",
        "",
        f"Generated by `bench/compare_estimators.py --knrs {args.knrs} --seed {args.seed}`: "
        f"{len(results)} result rows, {features.shape[1]} features, "
        f"{len(train)} train / {len(test)} test KNRs (latest {DEFAULT_PARAMS['test_share']:.0%} "
        "by production time). Thresholds chosen on the latest slice of the train set for "
        f"the F2 policy. `ratio` = model PR-AUC / PR-AUC of the "
        "true probabilities (truth.csv) on the same test KNRs.",
        "",
        "## Summary (fail model; mean ratio over the fail groups; fit time of all kinds)",
        "",
        markdown_table(summary.reset_index()),
        "",
        "## All kinds",
        "",
        markdown_table(table),
        "",
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a frame as a GitHub markdown table (pandas' to_markdown needs tabulate)."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
