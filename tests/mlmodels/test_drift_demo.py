"""The drift check on demo data: exact enough, quiet on twelve unshifted months, and one
alarm per month once five of the model's strongest tests drift."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance
from threadpoolctl import threadpool_limits

from bench.drift_demo import (
    column_test_name,
    demo_halves,
    months_of,
    shift_tests,
    strongest_tests,
)
from mlmodels import drift
from training.pipeline import explain
from training.pipeline.definition import DEFAULT_PARAMS
from training.pipeline.estimators import make_pipeline
from training.pipeline.steps import build_labels, production_times

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A reference half (features, a fail model's importances, the reference) and the
    checked half's twelve months of independent vehicles."""
    halves = demo_halves(knrs=14_000, seed=5, out=tmp_path_factory.mktemp("demo"))
    labels = build_labels(halves.reference_defects, halves.reference_times)
    y = labels["fail"].reindex(halves.reference_features.index, fill_value=0)
    options = DEFAULT_PARAMS["estimator_options"]["hist_gradient_boosting"]
    with threadpool_limits(limits=1):
        model = make_pipeline("hist_gradient_boosting", options=options)
        model.fit(halves.reference_features, y)
        importances = explain.top_features(model, halves.reference_features, y)["features"]
    reference = drift.build_reference(
        halves.reference_features, months_of(halves.reference_times), importances=importances
    )
    return halves, reference


def checked(halves, results):
    features = halves.builder.transform(results)
    months = months_of(production_times(results)).reindex(features.index)
    return features, months


def test_binned_distances_agree_with_scipy_on_the_demo_columns(demo):
    halves, reference = demo
    features, months = checked(halves, halves.checked_results)
    differences = []
    for month in sorted(months.unique()):
        rows = features[(months == month).to_numpy()]
        compared = drift.compare(drift.summarise(rows, reference), reference)["columns"]
        for name, column in reference["columns"].items():
            if column["kind"] != drift.NUMERIC:
                continue
            before = halves.reference_features[name].to_numpy()
            now = rows[name].to_numpy()
            before, now = before[np.isfinite(before)], now[np.isfinite(now)]
            exact = wasserstein_distance(before, now) / max(np.std(before), 0.001)
            differences.append(abs(compared[name]["score"] - exact))

    assert len(differences) > 300
    assert np.quantile(differences, 0.95) < 0.01
    assert max(differences) < 0.02


def test_twelve_unshifted_months_raise_no_alarm(demo):
    halves, reference = demo
    features, months = checked(halves, halves.checked_results)

    verdicts = {
        month: drift.check_month(features[(months == month).to_numpy()], reference)["judgement"]
        for month in sorted(months.unique())
    }

    assert len(verdicts) == 12
    assert all(v["vehicles"] >= drift.MIN_VEHICLES for v in verdicts.values())
    assert [m for m, v in verdicts.items() if v["alarm"]] == []


def test_five_strongest_tests_shifted_from_a_month_on_raise_an_alarm_from_that_month(demo):
    halves, reference = demo
    tests = strongest_tests(reference["ranking"], halves.reference_results, 5)
    shifted = shift_tests(halves.checked_results, tests, pd.Timestamp("2024-07-01"), 1.0)
    features, months = checked(halves, shifted)

    verdicts = {
        month: drift.check_month(features[(months == month).to_numpy()], reference)["judgement"]
        for month in sorted(months.unique())
    }

    alarmed = [month for month, verdict in verdicts.items() if verdict["alarm"]]
    assert alarmed == [f"2024-{m:02d}" for m in range(7, 13)]
    named = {column_test_name(column) for column in verdicts["2024-07"]["all_drifted"]}
    assert set(tests) <= named
