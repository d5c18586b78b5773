"""The drift reference step: every vehicle the run read, binned once, months by production time."""

import numpy as np
import pandas as pd

from mlmodels import drift
from training.pipeline.reference import build_drift_reference
from training.pipeline.registry import get_step


def frames(per_month: list[int]) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    n = sum(per_month)
    knrs = pd.Index([f"2024-{2000001 + i:07d}" for i in range(n)], name="KNR")
    features = pd.DataFrame(
        {"value|A#2|1": rng.normal(25.0, 1.0, n), "runs|A#2": np.ones(n)}, index=knrs
    )
    starts = np.concatenate(
        [np.full(count, np.datetime64(f"2024-{m + 1:02d}-10T08:00")) for m, count in
         enumerate(per_month)]
    )
    # The production times arrive sorted by KNR, as build_features gives them; reversed here
    # to show they are aligned by KNR, not by position.
    times = pd.Series(starts, index=knrs, name="production_time").iloc[::-1]
    return features, times


def test_the_step_is_registered_for_definitions():
    assert get_step("build_drift_reference") is build_drift_reference


def test_the_reference_bins_every_vehicle_by_its_production_month():
    features, times = frames([600, 550, 40])

    reference = build_drift_reference(features, times, params={})

    assert reference["vehicles"] == 1190
    assert reference["months"] == {"2024-01": 600, "2024-02": 550, "2024-03": 40}
    assert reference["columns"]["runs|A#2"]["kind"] == drift.CONSTANT
    # Months of 500 vehicles or more set the thresholds: two here.
    assert len(reference["columns"]["value|A#2|1"]["month_scores"]) == 2


def test_a_lowered_minimum_lets_smaller_months_set_thresholds():
    features, times = frames([600, 550, 40])

    reference = build_drift_reference(features, times, params={"drift_min_vehicles": 30})

    assert len(reference["columns"]["value|A#2|1"]["month_scores"]) == 3
