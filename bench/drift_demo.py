"""Demo data for measuring drift: a reference half and a checked half of one generated set.

One `generate_demo_data` call gives vehicles of one line plan over twelve months; alternate
vehicles (by KNR) go to the reference half, which the feature builder and the models learn
from, and to the checked half, twelve months of independent vehicles from the same process.
`shift_tests` moves chosen tests' readings from a date on, as a drifting station would.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.compare_estimators import read_export  # noqa: E402
from plant.demo import generate_demo_data  # noqa: E402
from training.pipeline.definition import DEFAULT_PARAMS  # noqa: E402
from training.pipeline.features import ResultFeatures  # noqa: E402
from training.pipeline.steps import build_features, clean  # noqa: E402

# The feature columns of one test: `<prefix>|<NAME>#<ID>[|<sub-result>]`.
TEST_COLUMN_PREFIXES = ("value", "min", "max", "mean", "runs", "last_nok")


@dataclass
class DemoHalves:
    """A generated set split into the reference half and the checked half."""

    reference_results: pd.DataFrame
    checked_results: pd.DataFrame
    reference_defects: pd.DataFrame
    checked_defects: pd.DataFrame
    reference_features: pd.DataFrame
    reference_times: pd.Series
    builder: ResultFeatures


def demo_halves(*, knrs: int, seed: int, out: Path, params: dict | None = None) -> DemoHalves:
    """Generate `knrs` vehicles, split them alternately, and build the reference half's
    features with the training pipeline's own step (fitted on its training period)."""
    paths = generate_demo_data(knrs=knrs, out_dir=out, seed=seed)
    results, defects = clean(read_export(paths["results"], "results"),
                             read_export(paths["defects"], "defects"))
    knr = results["KNR"].astype("string")
    vehicles = np.sort(knr.unique())
    reference_knrs = set(vehicles[0::2].tolist())
    in_reference = knr.isin(reference_knrs).to_numpy()
    defect_in_reference = defects["KNR"].astype("string").isin(reference_knrs).to_numpy()
    reference_results = results[in_reference]
    features, times, builder = build_features(
        reference_results, {**DEFAULT_PARAMS, **(params or {})}
    )
    return DemoHalves(
        reference_results=reference_results,
        checked_results=results[~in_reference],
        reference_defects=defects[defect_in_reference],
        checked_defects=defects[~defect_in_reference],
        reference_features=features,
        reference_times=times,
        builder=builder,
    )


def column_test_name(column: str) -> str | None:
    """The test (`NAME#ID`) a feature column reads, or None for an aggregate or a time."""
    prefix, _, rest = column.partition("|")
    if prefix not in TEST_COLUMN_PREFIXES or not rest:
        return None
    return rest.split("|", 1)[0]


def strongest_tests(ranking: list[str], results: pd.DataFrame, count: int) -> list[str]:
    """The first `count` tests with numeric readings, in the order of a model's ranking."""
    measured = set(
        (results["NAME"].astype("string") + "#" + results["ID"].astype("string"))[
            results["VALUE"].notna()
        ].unique()
    )
    tests: list[str] = []
    for column in ranking:
        test = column_test_name(column)
        if test is not None and test in measured and test not in tests:
            tests.append(test)
        if len(tests) == count:
            break
    return tests


def shift_tests(
    results: pd.DataFrame, tests: list[str], since: pd.Timestamp, sds: float
) -> pd.DataFrame:
    """The rows with the readings of `tests` (`NAME#ID`) raised by `sds` of each test's
    standard deviation from `since` on; other rows as they were."""
    test = results["NAME"].astype("string") + "#" + results["ID"].astype("string")
    value = results["VALUE"].to_numpy(dtype=np.float64, copy=True)
    late = (results["DATA"] >= since).to_numpy()
    for name in tests:
        rows = (test == name).to_numpy()
        spread = float(np.nanstd(value[rows]))
        value[rows & late] += sds * spread
    return results.assign(VALUE=value)


def months_of(times: pd.Series) -> pd.Series:
    """Production months (`YYYY-MM`) of production times."""
    return times.dt.strftime("%Y-%m")
