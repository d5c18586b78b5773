"""Benchmark: train on generated data; compare each kind with the truth and the plain reference.

Run: `.venv/bin/python bench/train_quality.py [--world interactions] [--knrs 3000 --knrs 5000]
[--seed 23 --seed 29]` on the embedded default (a throwaway SQLite database per seed), or
`.venv/bin/python -m tests.support.with_mongoeco .venv/bin/python bench/train_quality.py
--seed 23` for MongoDB. For each world (bench/worlds/: the demo's generator, many small
deviations, interactions and shifts; all three unless `--world` names some), size and seed it
generates data with a seed the defaults were not tuned on, imports it with `import_data`, runs
`train --wait` (which activates what the gate allows), then scores every registered version
through `predict_positive` on the run's test set (the latest KNRs by production time) beside
truth.csv's probabilities and the plain reference (`bench/plain_reference.py`, same split).
Each measurement is merged into bench/results/worlds_<database>.json (replacing an earlier one
of the same world, size and seed; `--report` names another file) and the report across worlds,
bench/results/worlds_<database>.md, is written again from all of them (bench/worlds/report.py).
A run of the demo alone at one size (`--world demo`) also writes the demo's per-seed report with the
issue's bars, bench/results/train_quality_<database>.md and .json, as before.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.worlds.report import (  # noqa: E402
    FAIL_RATIO_BAR,
    MIN_TEST_POSITIVES,
    WORLD_NAMES,
    merge,
    worlds_report,
)

# Seeds whose results informed the pipeline's parameters and design; the report refuses them
# (301-303: the plain approach as a candidate and the time folds, in every world).
TUNING_SEEDS = (1, 2, 3, 4, 5, 7, 11, 301, 302, 303)
# The most a group may flag (times its prevalence, or this share of vehicles, whichever is
# larger).
FLAGGED_TIMES_PREVALENCE = 3.0
FLAGGED_MIN_SHARE = 0.10


def measure_seed(knrs: int, seed: int, workdir: Path, world: str = "demo") -> dict:
    """Generate one world's data, import, train and score it in this process, in `workdir`."""
    os.environ.setdefault("CROSSLINE_VAR_DIR", str(workdir / "var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    # Production settings (DEBUG off) need a key: a throwaway one for a throwaway database.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import django

    django.setup()
    import numpy as np
    import pandas as pd
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from plain_reference import plain_reference
    from ranking import expected_average_precision, paired_bootstrap
    from sklearn.metrics import average_precision_score

    from bench.worlds.registry import WORLDS
    from mlmodels.models import ModelVersion
    from mlmodels.selectors import get_active_version_ids
    from mlmodels.services import load_pipeline
    from plant.selectors import list_ready_datasets
    from training.models import TrainingRun
    from training.pipeline.estimators import predict_positive
    from training.pipeline.judging import expected_calibration_error
    from training.pipeline.steps import build_features, build_labels, clean, split_by_time

    call_command("migrate", verbosity=0)
    files = WORLDS[world](knrs=knrs, out_dir=workdir / world, seed=seed)
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
    frames = {}
    for kind in ("results", "defects"):
        parts = []
        for dataset in list_ready_datasets(kind=kind):
            with default_storage.open(dataset.file, "rb") as stored:
                parts.append(pd.read_parquet(stored))
        frames[kind] = pd.concat(parts, ignore_index=True)
    results, defects = clean(frames["results"], frames["defects"])
    params = run.pipeline["params"]
    features, production_time, _ = build_features(results, params)
    labels = build_labels(defects, production_time)
    _, test_set = split_by_time(features, labels, production_time, params["test_share"])
    test_rows = results[results["KNR"].isin(test_set.knrs)]
    truth = pd.read_csv(files["truth"]).set_index("KNR").loc[test_set.knrs]
    plain = plain_reference(frames["results"], frames["defects"],
                            test_share=params["test_share"])
    assert all(list(p["knrs"]) == list(test_set.knrs) for p in plain["kinds"].values())

    active = get_active_version_ids()
    rows = []
    flagged_by_active = np.zeros(len(test_set), dtype=bool)
    features_cache: dict = {}
    versions = ModelVersion.objects.filter(training_run=run)
    for version in sorted(versions, key=lambda v: (v.type_model != "fail", v.type_model)):
        kind = version.type_model
        column = "p_fail" if kind == "fail" else f"p_{kind.removeprefix('group_')}"
        y = test_set.labels[kind].to_numpy()
        scores = predict_positive(load_pipeline(version), test_rows, features=features_cache)
        scores = scores.reindex(test_set.knrs).to_numpy()
        truth_pr_auc = average_precision_score(y, truth[column]) if y.sum() else None
        truth_expected = expected_average_precision(y, truth[column]) if y.sum() else None
        plain_ratio = plain_expected_ratio = against_plain = against_plain_95 = None
        if kind in plain["kinds"] and truth_pr_auc:
            plain_scores = plain["kinds"][kind]["scores"]
            plain_ratio = average_precision_score(y, plain_scores) / truth_pr_auc
            plain_expected_ratio = expected_average_precision(y, plain_scores) / truth_expected
            # One set of resamples: its 5th-95th percentiles for the per-seed report, its
            # 2.5th-97.5th (a two-sided 95% interval) for the report across worlds.
            low_95, low, high, high_95 = paired_bootstrap(
                y, scores, plain_scores, percentiles=(2.5, 5, 95, 97.5)
            )
            against_plain, against_plain_95 = (low, high), (low_95, high_95)
        flagged = scores >= version.threshold
        if version.pk in active:
            flagged_by_active |= flagged
        rows.append({
            "kind": kind,
            "test_positives": int(y.sum()),
            "prevalence": float(y.mean()),
            "ratio": average_precision_score(y, scores) / truth_pr_auc if truth_pr_auc else None,
            "plain_ratio": plain_ratio,
            "expected_ratio": (
                expected_average_precision(y, scores) / truth_expected if truth_pr_auc else None
            ),
            "plain_expected_ratio": plain_expected_ratio,
            "against_plain": against_plain,
            "against_plain_95": against_plain_95,
            "truth_pr_auc": truth_pr_auc,
            "prevalence_all": float(labels[kind].mean()),
            "flagged_share": float(flagged.mean()),
            "eligible": version.eligible,
            "eligibility": version.eligibility,
            "active": version.pk in active,
            "brier": float(np.mean((scores - y) ** 2)),
            "ece": expected_calibration_error(y, scores),
            "threshold": version.threshold,
            "combined_with": (version.diagnostics or {}).get("combined_with"),
            "estimator": version.estimator,
            # The run's own yardstick: the plain approach as crossline fitted it beside the
            # version, and what the gate judged.
            "run_pr_auc": version.pr_auc,
            "run_plain_pr_auc": version.plain_pr_auc,
            "judged_folds": version.judged_folds,
            "judged_positives": version.judged_positives,
        })
    no_model = {
        row["kind"]: (
            f"eligible, not activated: {row['eligibility']}"
            if row["eligible"]
            else f"below the gate: {row['eligibility']}"
        )
        for row in rows
        if not row["active"]
    }
    for kind, positives in run.skipped.items():
        no_model[kind] = (
            f"not trained: {positives} positives in the training period "
            f"(minimum {params['min_positives']})"
        )
    for column in truth.columns:
        kind = "fail" if column == "p_fail" else f"group_{column.removeprefix('p_')}"
        if kind not in labels.columns:
            no_model[kind] = "no labelled defect of this kind"
    return {
        "world": world,
        "seed": seed,
        "knrs": knrs,
        **code_version(),
        "database": "mongodb" if settings.USE_MONGODB else "sqlite",
        "test_vehicles": len(test_set),
        "import_seconds": import_seconds,
        "train_seconds": train_seconds,
        "plain_seconds": plain["seconds"],
        "flagged_by_active": float(flagged_by_active.mean()),
        "kinds": rows,
        "skipped": dict(run.skipped),
        "prevalence_all": {kind: float(labels[kind].mean()) for kind in labels.columns},
        "no_model": no_model,
    }


def code_version() -> dict[str, str]:
    """The commit measured, the last commit that changed the product's code, and whether the
    code (measurement results aside) differs from the commit."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    changed = git("diff", "--quiet", "HEAD", "--", ".", ":(exclude)bench/results").returncode
    return {
        "commit": git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown",
        "product_commit": git(
            "log", "-1", "--format=%h", "--", "crossline", "training", "mlmodels", "predictions"
        ).stdout.strip() or "unknown",
        "uncommitted_changes": changed != 0,
    }


def compared_with_plain(row: dict) -> bool:
    """Whether the issue compares this kind with the plain reference: a group with enough
    positives in the test set."""
    return (
        row["kind"] != "fail"
        and row["test_positives"] >= MIN_TEST_POSITIVES
        and row["plain_ratio"] is not None
    )


def below_plain(seed: dict, ratio: str) -> list[str]:
    """The compared groups whose `ratio` (PR-AUC's or the tie-fair one's) is below plain's."""
    return [
        f"{row['kind']} {row[ratio]:.3f} < plain {row['plain_' + ratio]:.3f}"
        for row in seed["kinds"]
        if compared_with_plain(row) and row[ratio] < row["plain_" + ratio]
    ]


def plain_clearly_better(seed: dict) -> list[str]:
    """The compared groups where even the 95th percentile of crossline − plain (tie-fair
    average precision, paired bootstrap over test vehicles) is below zero."""
    return [
        f"{row['kind']} [{row['against_plain'][0]:+.3f}, {row['against_plain'][1]:+.3f}]"
        for row in seed["kinds"]
        if compared_with_plain(row) and row["against_plain"][1] < 0
    ]


def bars(seed: dict) -> list[str]:
    """The issue's bars this seed misses (empty: all met), groups judged by PR-AUC."""
    missed = []
    for row in seed["kinds"]:
        kind = row["kind"]
        if kind == "fail" and (row["ratio"] or 0) < FAIL_RATIO_BAR:
            missed.append(f"fail ratio {row['ratio']:.3f} < {FAIL_RATIO_BAR}")
        if kind == "fail":
            continue
        if row["active"] and not row["eligible"]:
            missed.append(f"{kind} active below the gate")
        limit = max(FLAGGED_TIMES_PREVALENCE * row["prevalence"], FLAGGED_MIN_SHARE)
        if row["active"] and row["flagged_share"] > limit:
            missed.append(f"{kind} flags {row['flagged_share']:.3f} > {limit:.3f}")
    return missed + below_plain(seed, "ratio")


def report(seeds: list[dict]) -> str:
    """The Markdown table of every seed, with the bars each misses."""
    def number(value, digits=3):
        return "" if value is None else f"{value:.{digits}f}"

    def interval(bounds):
        return "" if bounds is None else f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"

    first = seeds[0]
    lines = [
        f"# Model quality against the true probabilities ({first['database']})",
        "",
        f"{first['knrs']} demo KNRs per seed, seeds {', '.join(str(s['seed']) for s in seeds)} "
        f"(the parameters and design were chosen looking at seeds "
        f"{', '.join(map(str, TUNING_SEEDS))}). Test set: the latest "
        f"{first['test_vehicles']} KNRs by production time. Ratio = PR-AUC / PR-AUC of "
        "truth.csv's probabilities on the same KNRs; crossline's scores come from each "
        "registered version through `predict_positive` (raw rows → probability); plain = "
        "`bench/plain_reference.py` on the same split. Flagged = share of test vehicles at or "
        "over the version's threshold (the default policy: F2 on held-out scores, at most twice "
        "the held-out prevalence or 10%); limit = the issue's bar, max(3 × prevalence, 10%). "
        "Active = what `train` activated through the gate. Brier and ECE (10 bins) are of "
        "crossline's probabilities.",
        "",
        "Tie-fair ratios use the average precision averaged over every order of tied scores "
        "(`bench/ranking.py`), for crossline, plain and truth alike: scikit-learn's PR-AUC "
        "scores a tied block at the precision of its end, and truth's group 133 and 140 "
        "probabilities take only a few values. Crossline − plain: the 5th–95th percentiles of "
        "the tie-fair average precision's difference over 1000 paired resamples of the test "
        "vehicles.",
        "",
        "| seed | kind | test positives | prevalence | crossline ratio | plain ratio | truth "
        "PR-AUC | crossline tie-fair ratio | plain tie-fair ratio | crossline − plain | "
        "flagged share | limit | flagged / prevalence | eligible | active | Brier | "
        "ECE | threshold |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        for row in seed["kinds"]:
            limit = max(FLAGGED_TIMES_PREVALENCE * row["prevalence"], FLAGGED_MIN_SHARE)
            times = row["flagged_share"] / max(row["prevalence"], 1e-9)
            lines.append(
                f"| {seed['seed']} | {row['kind']} | {row['test_positives']} | "
                f"{row['prevalence']:.3f} | {number(row['ratio'])} | "
                f"{number(row['plain_ratio'])} | {number(row['truth_pr_auc'])} | "
                f"{number(row['expected_ratio'])} | {number(row['plain_expected_ratio'])} | "
                f"{interval(row['against_plain'])} | {row['flagged_share']:.3f} | "
                f"{limit:.3f} | {times:.1f} | "
                f"{'yes' if row['eligible'] else 'no'} | {'yes' if row['active'] else 'no'} | "
                f"{row['brier']:.4f} | {row['ece']:.3f} | {row['threshold']:.3f} |"
            )
        for kind, positives in seed["skipped"].items():
            lines.append(
                f"| {seed['seed']} | {kind} | skipped: {positives} positives in training "
                "| | | | | | | | | | | | | | | |"
            )
    lines += ["", "Per seed:", ""]
    for seed in seeds:
        missed = bars(seed)
        fail = next((r for r in seed["kinds"] if r["kind"] == "fail"), None)
        combined = (fail or {}).get("combined_with")
        lines.append(
            f"- seed {seed['seed']}: import {seed['import_seconds']:.0f} s, `train --wait` "
            f"{seed['train_seconds']:.0f} s, plain reference {seed['plain_seconds']:.0f} s; "
            f"vehicles flagged by the active models (fail or any group): "
            f"{seed['flagged_by_active']:.1%}; fail model "
            f"{'combined with ' + ', '.join(combined) if combined else 'direct'}; bars "
            + ("all met." if not missed else "missed: " + "; ".join(missed) + ".")
            + " Tie-fair, below plain: "
            + ("; ".join(below_plain(seed, "expected_ratio")) or "none")
            + "; plain better at the 95th percentile: "
            + ("; ".join(plain_clearly_better(seed)) or "none")
            + "."
        )
    return "\n".join(lines) + "\n"


@contextmanager
def seed_database(seed: int) -> Iterator[None]:
    """On MongoDB, a database of this seed's own, dropped afterwards: seeds measured one
    after the other on one server must not see each other's datasets (on SQLite each seed's
    database is a file in its throwaway directory already)."""
    uri = os.environ.get("MONGODB_URI", "").strip()
    if not uri:
        yield
        return
    import pymongo

    parts = urlsplit(uri)
    name = f"{parts.path.strip('/')}_quality_{seed}"
    os.environ["MONGODB_URI"] = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        yield
    finally:
        with pymongo.MongoClient(uri) as client:
            client.drop_database(name)


def measure_in_process(world: str, knrs: int, seed: int) -> dict:
    """One seed measured in a process of its own: its own throwaway database and settings."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, __file__, "--world", world, "--knrs", str(knrs), "--seed",
             str(seed), "--one-seed-json", out.name],
            check=True,
        )
        return json.loads(Path(out.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=WORLD_NAMES, action="append",
                        help="Generator (repeat for several; default all three).")
    parser.add_argument("--knrs", type=int, action="append",
                        help="Vehicles to generate (repeat for several sizes; default 5000).")
    parser.add_argument("--seed", type=int, action="append",
                        help="Seed, not a tuning seed (repeat for several; default 23, 29).")
    parser.add_argument("--jobs", type=int, default=1,
                        help="Seeds measured at once, each in its own process (default 1).")
    parser.add_argument("--report", default="worlds",
                        help="Merge into bench/results/<report>_<database>.json and .md "
                        "(default worlds; another name keeps a measurement apart).")
    parser.add_argument("--one-seed-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    worlds = list(dict.fromkeys(args.world or WORLD_NAMES))
    sizes = list(dict.fromkeys(args.knrs or [5000]))
    seeds = list(dict.fromkeys(args.seed or [23, 29]))
    tuned = sorted(set(seeds) & set(TUNING_SEEDS))
    if tuned:
        parser.error(f"seed(s) {tuned} informed the parameters; pick fresh ones")
    if args.one_seed_json:
        prefix = f"crossline-train-bench-{worlds[0]}-{seeds[0]}-"
        with tempfile.TemporaryDirectory(prefix=prefix) as workdir, seed_database(seeds[0]):
            measured = measure_seed(sizes[0], seeds[0], Path(workdir), worlds[0])
        args.one_seed_json.write_text(json.dumps(measured))
        return
    combinations = [(w, k, s) for w in worlds for k in sizes for s in seeds]
    results = ROOT / "bench" / "results"
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        measured = []
        # Merged and written after each seed: a long run stopped midway keeps what it measured.
        for entry in pool.map(lambda c: measure_in_process(*c), combinations):
            measured.append(entry)
            database = entry["database"]
            path = results / f"{args.report}_{database}.json"
            earlier = json.loads(path.read_text()) if path.exists() else []
            entries = merge(earlier, [entry])
            path.write_text(json.dumps(entries, indent=1))
            (results / f"{args.report}_{database}.md").write_text(worlds_report(entries))
    print(worlds_report(measured))
    if worlds == ["demo"] and len(sizes) == 1 and args.report == "worlds":
        text = report(measured)
        (results / f"train_quality_{database}.md").write_text(text)
        (results / f"train_quality_{database}.json").write_text(json.dumps(measured, indent=1))
        print(text)


if __name__ == "__main__":
    main()
