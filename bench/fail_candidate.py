"""One candidate of the default definition judged in every world: with it, without it, plain.

Run: `nice -n 10 .venv/bin/python bench/fail_candidate.py --without dense_logistic --world demo
--world small_deviations --world interactions --seed 5004 --seed 5005 --seed 5006`
(writes bench/results/fail_candidate.md and .json); or `--add '{"recency_half_life_days": 90}'
--report bench/results/fail_recency.md` to judge a candidate the definition does not hold
(with: the definition and it; without: the definition); or `--params '{"production_date":
false}' --report bench/results/fail_production_date.md` to judge the definition against
itself with these parameters (features built anew for each).

Per world (bench/worlds/) and seed: the generator's files go through the importer's readers
and the product's pure training steps (`clean`, `build_features`, `build_labels`,
`split_by_time`, `train_models`, `evaluate`; no database, no gate), once with the default
definition and once with its candidate `--without` left out, on the same split as the world
bench (train on the earliest 80% by production time, judge the latest 20%); beside them the
plain approach (bench/plain_reference.py). Each kind's PR-AUC as a share of truth's; the
paired bootstrap of the tie-fair average precision's difference (1000 resamples of the judged
vehicles, 2.5th–97.5th percentiles) for with − without and with − plain; and the kinds whose
choice the plain approach replaced in training, with and without.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from compare_estimators import read_export  # noqa: E402
from plain_reference import plain_reference  # noqa: E402
from ranking import paired_bootstrap  # noqa: E402

from bench.worlds.registry import WORLDS  # noqa: E402
from training.pipeline.definition import DEFAULT_PARAMS  # noqa: E402
from training.pipeline.steps import (  # noqa: E402
    build_features,
    build_labels,
    clean,
    evaluate,
    split_by_time,
    train_models,
)

RESULTS = ROOT / "bench" / "results"
# What training logs when the plain approach replaces a kind's choice.
OVERRIDE = "the plain approach ranked"


def without(params: dict, estimator: str) -> dict:
    """The definition's parameters with the candidates of `estimator` left out."""
    name = params["estimator"]
    kept = [c for c in params["candidates"][name] if c.get("estimator", name) != estimator]
    assert len(kept) < len(params["candidates"][name]), f"no candidate {estimator}"
    return {**params, "candidates": {**params["candidates"], name: kept}}


def added(params: dict, candidate: dict) -> dict:
    """The definition's parameters with one more candidate."""
    name = params["estimator"]
    listed = [*params["candidates"][name], candidate]
    return {**params, "candidates": {**params["candidates"], name: listed}}


def measure(
    world: str, knrs: int, seed: int, left_out: str, work: Path, add: dict | None = None,
    changed: dict | None = None,
) -> dict:
    started = time.perf_counter()
    paths = WORLDS[world](knrs=knrs, out_dir=work / f"{world}_{seed}_{knrs}", seed=seed)
    truth = pd.read_csv(paths["truth"], dtype={"KNR": str}).set_index("KNR")
    raw_results = read_export(paths["results"], "results")
    raw_defects = read_export(paths["defects"], "defects")
    results, defects = clean(raw_results, raw_defects)
    features, production_time, builder = build_features(results, DEFAULT_PARAMS)
    labels = build_labels(defects, production_time)
    train, test = split_by_time(features, labels, production_time, DEFAULT_PARAMS["test_share"])
    runs, seconds, overrides = {}, {}, {}
    if changed is not None:
        variants = {"with": DEFAULT_PARAMS, "without": {**DEFAULT_PARAMS, **changed}}
    elif add is not None:
        variants = {"with": added(DEFAULT_PARAMS, add), "without": DEFAULT_PARAMS}
    else:
        variants = {"with": DEFAULT_PARAMS, "without": without(DEFAULT_PARAMS, left_out)}
    for label, params in variants.items():
        fit_started = time.perf_counter()
        own_train, own_test, own_builder = train, test, builder
        if changed is not None and label == "without":
            # The changed parameters may change the features: built anew on the same split.
            other, _, own_builder = build_features(results, params)
            own_train, own_test = split_by_time(
                other, labels, production_time, params["test_share"]
            )
        messages: list[str] = []
        fitted = train_models(own_train, own_builder, params, log=messages.append)
        runs[label] = evaluate(fitted, own_test, results)["models"]
        # The kinds whose chosen model (or the fail model's blend) the plain approach replaced.
        overrides[label] = [m.split(":")[0] for m in messages if OVERRIDE in m]
        seconds[label] = round(time.perf_counter() - fit_started, 1)
    share = DEFAULT_PARAMS["test_share"]
    plain = plain_reference(raw_results, raw_defects, test_share=share)["kinds"]
    kinds = []
    for kind in runs["with"]:
        y = test.labels[kind].to_numpy() if kind in test.labels else np.zeros(len(test))
        column = "p_fail" if kind == "fail" else f"p_{kind.removeprefix('group_')}"
        if not y.sum() or column not in truth or kind not in runs["without"]:
            continue
        ceiling = average_precision_score(y, truth.loc[test.knrs, column])
        scores = {
            label: np.asarray(run[kind]["test_scores"]["scores"]) for label, run in runs.items()
        }
        if kind in plain:
            scores["plain"] = np.asarray(plain[kind]["scores"])
        row = {
            "kind": kind,
            "positives": int(y.sum()),
            "truth_pr_auc": ceiling,
            **{label: average_precision_score(y, s) / ceiling for label, s in scores.items()},
            "with_model": runs["with"][kind]["estimator"],
            "without_model": runs["without"][kind]["estimator"],
            "with_minus_without_95": paired_bootstrap(
                y, scores["with"], scores["without"], percentiles=(2.5, 97.5)
            ),
        }
        if "plain" in scores:
            row["with_minus_plain_95"] = paired_bootstrap(
                y, scores["with"], scores["plain"], percentiles=(2.5, 97.5)
            )
        kinds.append(row)
    entry = {
        "world": world, "knrs": knrs, "seed": seed, "left_out": left_out, "kinds": kinds,
        "train_seconds": seconds, "seconds": round(time.perf_counter() - started, 1),
        "overrides": overrides,
    }
    fail = next(r for r in kinds if r["kind"] == "fail")
    print(json.dumps({k: v for k, v in entry.items() if k != "kinds"} | {"fail": fail}),
          flush=True)
    return entry


def report(entries: list[dict], command: str) -> str:
    def interval(bounds) -> str:
        return "" if bounds is None else f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"

    left_out = sorted({e["left_out"] for e in entries})
    # A candidate given as JSON was added to the default definition (`--add`), not left out.
    with_text = (
        f"the default definition; without: the same with the parameters {left_out[0][12:-1]}"
        if left_out[0].startswith('{"without"')
        else "the default definition with the candidate added; without: the default definition "
        "(main's)"
        if left_out[0].startswith("{")
        else "the default definition; without: the same with the candidate left out (main's "
        "definition)"
    )
    lines = [
        f"# The default definition with and without {', '.join(left_out)}, in every world",
        "",
        f"Command: `{command}`",
        "",
        "PR-AUC as a share of truth's on the latest 20% of vehicles by production time "
        "(trained on the earliest 80%), through the product's pure training steps (no "
        f"database, no gate). With: {with_text}; plain: bench/plain_reference.py. Intervals: "
        "2.5th–97.5th percentiles of the tie-fair average precision's difference over 1000 "
        "paired resamples of the judged vehicles.",
        "",
        "## The fail model",
        "",
        "| world | vehicles | seed | positives | with | without | plain | with − without, 95% "
        "| with − plain, 95% | model with | train s with / without |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        r = next(r for r in e["kinds"] if r["kind"] == "fail")
        lines.append(
            f"| {e['world']} | {e['knrs']} | {e['seed']} | {r['positives']} | {r['with']:.3f} | "
            f"{r['without']:.3f} | {r.get('plain', float('nan')):.3f} | "
            f"{interval(r['with_minus_without_95'])} | {interval(r.get('with_minus_plain_95'))} "
            f"| {r['with_model']} | {e['train_seconds']['with']} / "
            f"{e['train_seconds']['without']} |"
        )
    lines += ["", "Means of the fail model:", "", "| world | vehicles | seeds | with | without "
              "| plain |", "|---|---|---|---|---|---|"]
    fails = pd.DataFrame([
        {"world": e["world"], "knrs": e["knrs"],
         **next(r for r in e["kinds"] if r["kind"] == "fail")}
        for e in entries
    ])
    for (world, knrs), part in fails.groupby(["world", "knrs"], sort=False):
        lines.append(f"| {world} | {knrs} | {len(part)} | {part['with'].mean():.3f} | "
                     f"{part['without'].mean():.3f} | {part['plain'].mean():.3f} |")
    lines += ["", "## Groups with at least 30 judged positives", "",
              "| world | seed | kind | positives | with | without | plain | with − without, 95% "
              "| with − plain, 95% | model with | model without |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        for r in e["kinds"]:
            if r["kind"] == "fail" or r["positives"] < 30:
                continue
            lines.append(
                f"| {e['world']} | {e['seed']} | {r['kind']} | {r['positives']} | "
                f"{r['with']:.3f} | {r['without']:.3f} | {r.get('plain', float('nan')):.3f} | "
                f"{interval(r['with_minus_without_95'])} | "
                f"{interval(r.get('with_minus_plain_95'))} | {r['with_model']} | "
                f"{r['without_model']} |"
            )
    if any("overrides" in e for e in entries):
        lines += ["", "## The plain approach's overrides", "",
                  "Kinds whose chosen model (fail: the blend with the groups) the plain approach "
                  "replaced in training.", "",
                  "| world | seed | with | without |", "|---|---|---|---|"]
        for e in entries:
            done = e.get("overrides", {})
            lines.append(
                f"| {e['world']} | {e['seed']} | "
                + " | ".join(
                    f"{len(done.get(label, []))}: {', '.join(done.get(label, [])) or '—'}"
                    for label in ("with", "without")
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--without", help="the candidate's estimator")
    group.add_argument("--add", type=json.loads,
                       help="a candidate (JSON) the default definition does not hold")
    group.add_argument("--params", type=json.loads,
                       help="parameters (JSON) of the definition to judge it against")
    parser.add_argument("--world", action="append", choices=sorted(WORLDS))
    parser.add_argument("--seed", action="append", type=int)
    parser.add_argument("--knrs", type=int, default=3000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fail_candidate"))
    parser.add_argument("--report", type=Path, default=RESULTS / "fail_candidate.md")
    args = parser.parse_args()
    stored = args.report.with_suffix(".json")
    fresh = [
        measure(world, args.knrs, seed,
                args.without or json.dumps(args.add or {"without": args.params}), args.work,
                args.add, args.params)
        for world in args.world or sorted(WORLDS)
        for seed in args.seed or [5004, 5005, 5006]
    ]
    # Read last: runs of other worlds may have written meanwhile.
    earlier = json.loads(stored.read_text()) if stored.exists() else []
    keys = {(e["world"], e["knrs"], e["seed"]) for e in fresh}
    order = {name: i for i, name in enumerate(WORLDS)}
    entries = sorted(
        [e for e in earlier if (e["world"], e["knrs"], e["seed"]) not in keys] + fresh,
        key=lambda e: (order[e["world"]], e["knrs"], e["seed"]),
    )
    stored.write_text(json.dumps(entries, indent=1))
    command = f"nice -n {os.nice(0)} .venv/bin/python bench/fail_candidate.py " + " ".join(
        shlex.quote(arg) for arg in sys.argv[1:]
    )
    args.report.write_text(report(entries, command), encoding="utf-8")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
