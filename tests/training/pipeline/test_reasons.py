"""What a fitted version keeps for explaining its scores: typical values, strongest inputs, and
the fall in score when an input is set to its typical value."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from training.pipeline.estimators import AnyFailure, make_pipeline, version_pipeline
from training.pipeline.reasons import (
    FeatureName,
    base_feature,
    candidate_inputs,
    parse_feature_name,
    risk_drops,
    strongest_inputs,
    typical_values,
)


def test_feature_names_map_back_to_the_test_and_its_sub_result():
    assert parse_feature_name("value|SECTION_ZP8_00000001#2|2") == FeatureName(
        "value", "SECTION_ZP8_00000001", 2, "2"
    )
    assert parse_feature_name("min|012001#1") == FeatureName("min", "012001", 1, "")
    assert parse_feature_name("last_nok|042000#718") == FeatureName("last_nok", "042000", 718)
    assert parse_feature_name("n_nok") == FeatureName("n_nok")
    assert base_feature("|value|A#2|1|") == "value|A#2|1"
    assert base_feature("missingindicator_runs|A#2") == "runs|A#2"


def test_strongest_inputs_are_the_versions_top_features_as_frame_columns():
    diagnostics = {"importance": {"features": [
        ["|value|A#2|1|", 0.3], ["value|A#2|1", 0.2], ["missingindicator_runs|B#1", 0.1],
        ["n_nok", 0.05],
    ]}}
    assert strongest_inputs(diagnostics, 2) == ["value|A#2|1", "runs|B#1"]
    assert strongest_inputs({}, 3) == []


@pytest.fixture(scope="module")
def fitted() -> tuple:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"value|A#2|1": rng.normal(25, 2, 400), "value|B#2|1": rng.normal(10, 1, 400),
         "n_nok": rng.integers(0, 3, 400).astype(float)},
        index=pd.Index([f"2024-{i:07d}" for i in range(400)], name="KNR"),
    )
    y = (frame["value|A#2|1"] > 27).astype(int)
    estimator = make_pipeline("hist_gradient_boosting", options={"max_iter": 50}).fit(frame, y)

    class Builder:  # a fitted feature builder stands in front of the estimator
        def transform(self, rows):
            return rows

    return frame, version_pipeline(Builder(), estimator)


def test_typical_values_are_the_training_medians_the_version_keeps(fitted):
    frame, pipeline = fitted
    typical = typical_values(pipeline)
    assert typical.median["value|A#2|1"] == pytest.approx(frame["value|A#2|1"].median(), abs=0.1)
    assert typical.median["n_nok"] in {0.0, 1.0, 2.0}
    combined = Pipeline([("features", pipeline[0]),
                         ("model", AnyFailure(pipeline[1:], [pipeline[1:]]))])
    assert typical_values(combined).median == typical.median


def test_setting_the_reading_that_raised_the_score_to_its_median_lowers_it(fitted):
    frame, pipeline = fitted
    typical = typical_values(pipeline)
    high = frame[frame["value|A#2|1"] > 29].head(3)
    candidates = candidate_inputs(high, typical, ["n_nok"], limit=2)
    # The strongest input first, then the reading furthest from its median.
    assert candidates == [["n_nok", "value|A#2|1"]] * 3

    def score(rows):
        return pipeline[1:].predict_proba(rows)[:, 1]

    drops = risk_drops(score, high, candidates, typical)
    for i, row in enumerate(drops):
        by_input = dict(row)
        typical_row = high.iloc[[i]].copy()
        typical_row["value|A#2|1"] = typical.median["value|A#2|1"]
        expected = score(high.iloc[[i]])[0] - score(typical_row)[0]
        assert by_input["value|A#2|1"] == pytest.approx(expected)
        assert by_input["value|A#2|1"] > 0.3
        assert abs(by_input["n_nok"]) < 0.05


def test_the_plain_approach_keeps_the_medians_of_the_pivot_it_reads(fitted):
    # Its own view of the features (the pivot: values and NOK flags) comes before the
    # informative columns: the medians are those of the columns the bounds were fitted on.
    frame, _ = fitted
    frame = frame.assign(**{"value|C#2|1": 5.0})  # in the pivot, but never informative
    y = (frame["value|A#2|1"] > 27).astype(int)
    plain = make_pipeline("plain_gradient_boosting", options={"max_iter": 20}).fit(frame, y)
    typical = typical_values(Pipeline([("features", "passthrough"), *plain.steps]))
    assert set(typical.median) == {"value|A#2|1", "value|B#2|1"}
    assert typical.median["value|A#2|1"] == pytest.approx(frame["value|A#2|1"].median(), abs=0.1)
