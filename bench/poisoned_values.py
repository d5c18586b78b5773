"""Benchmark: PR-AUC per kind when some vehicles carry an extreme reading, for several bounds.

Run: `.venv/bin/python bench/poisoned_values.py --seed 13 --seed 17` (fresh seeds, not the
tuning ones). For each seed it generates demo data, reads it with the importer, then for each
share of vehicles (one reading each replaced by ±1e308, as a dirty export would carry) and
each `RobustBounds` limit trains the default pipeline's candidates and scores the test set
(the latest KNRs by production time). Writes bench/results/poisoned_values.md and .json.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from compare_estimators import read_export  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from plant.demo import generate_demo_data  # noqa: E402
from training.pipeline.bounds import RobustBounds  # noqa: E402
from training.pipeline.steps import (  # noqa: E402
    build_features,
    build_labels,
    clean,
    evaluate,
    split_by_time,
    train_models,
)

TUNING_SEEDS = (1, 2, 3, 4, 5, 7, 11)
SHARES = (0.0, 0.005, 0.05)
LIMITS = (3.0, 5.0, 10.0)
RESULTS = ROOT / "bench" / "results" / "poisoned_values"


def poison(results: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    """The rows with one numeric reading of `share` of the vehicles set to ±1e308."""
    if not share:
        return results
    numeric = results[results["VALUE"].notna()]
    knrs = numeric["KNR"].unique()
    chosen = rng.choice(knrs, size=int(round(share * len(knrs))), replace=False)
    picked = numeric[numeric["KNR"].isin(chosen)].groupby("KNR", observed=True).sample(
        1, random_state=int(rng.integers(1 << 31))
    )
    results = results.copy()
    results.loc[picked.index, "VALUE"] = rng.choice([1e308, -1e308], size=len(picked))
    return results


def measure(seed: int, knrs: int, workdir: Path) -> dict[str, dict[str, float]]:
    """PR-AUC per kind for each (share, limit) on one seed's data."""
    out = workdir / f"demo-{seed}"
    generate_demo_data(knrs=knrs, out_dir=out, seed=seed)
    raw_results = read_export(out / "results.csv.gz", "results")
    raw_defects = read_export(out / "defects.csv", "defects")
    rng = np.random.default_rng(seed)
    measured = {}
    for share in SHARES:
        results, defects = clean(poison(raw_results, share, rng), raw_defects)
        features, production_time, builder = build_features(results, {})
        labels = build_labels(defects, production_time)
        train, test = split_by_time(features, labels, production_time, 0.2)
        for limit in LIMITS:
            # The limit every Pipeline's RobustBounds is made with, for this measurement only.
            RobustBounds.__init__.__defaults__ = (limit,)
            with threadpool_limits(limits=1):
                evaluated = evaluate(train_models(train, builder, {}), test, results)
            measured[f"{share}|{limit}"] = {
                kind: entry["metrics"]["pr_auc"] for kind, entry in evaluated["models"].items()
            }
            print(seed, share, limit, measured[f"{share}|{limit}"], flush=True)
    return measured


def report(by_seed: dict[int, dict], knrs: int) -> str:
    """A table of mean PR-AUC over kinds and seeds, and one per kind, for each share and limit."""
    lines = [
        "# PR-AUC with extreme readings, per bound",
        "",
        f"`bench/poisoned_values.py`: {knrs} demo KNRs per seed, seeds "
        f"{', '.join(map(str, by_seed))}; a share of the vehicles gets one numeric reading "
        "replaced by ±1e308; the default pipeline (both candidates, the combined fail model) "
        "with `RobustBounds(limit)`; PR-AUC on the test set (latest 20% by production time).",
        "",
        "| vehicles with an extreme reading | limit | mean PR-AUC (every kind, every seed) |",
        "|---|---|---|",
    ]
    for share in SHARES:
        for limit in LIMITS:
            values = [v for m in by_seed.values() for v in m[f"{share}|{limit}"].values()]
            lines.append(f"| {share:.1%} | {limit:g} | {statistics.mean(values):.4f} |")
    kinds = sorted({k for m in by_seed.values() for v in m.values() for k in v})
    lines += ["", "| seed | share | limit | " + " | ".join(kinds) + " |",
              "|---|---|---|" + "---|" * len(kinds)]
    for seed, m in by_seed.items():
        for key, values in m.items():
            share, limit = key.split("|")
            cells = " | ".join(f"{values[k]:.4f}" if k in values else "–" for k in kinds)
            lines.append(f"| {seed} | {float(share):.1%} | {float(limit):g} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=5000, help="Demo vehicles per seed.")
    parser.add_argument("--seed", type=int, action="append", help="Demo seed (repeat).")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crossline-poisoned"),
                        help="Folder for the demo exports.")
    args = parser.parse_args()
    seeds = args.seed or [13, 17]
    if set(seeds) & set(TUNING_SEEDS):
        parser.error(f"seeds {sorted(set(seeds) & set(TUNING_SEEDS))} informed the parameters")
    by_seed = {seed: measure(seed, args.knrs, args.workdir) for seed in seeds}
    text = report(by_seed, args.knrs)
    RESULTS.with_suffix(".md").write_text(text)
    RESULTS.with_suffix(".json").write_text(json.dumps(by_seed, indent=1))
    print(text)


if __name__ == "__main__":
    main()
