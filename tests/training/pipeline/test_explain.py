"""What a fitted model shows people: curves and top features (pure, no database)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from training.pipeline.explain import describe_scores, top_features


def test_the_threshold_is_marked_where_the_curve_has_its_recall_and_precision():
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.4, 0.2, 0.7, 0.3, 0.1, 0.1, 0.05, 0.6]

    described = describe_scores(y, scores, threshold=0.5)

    # Flagged at 0.5: 0.9, 0.8 (defects), 0.7, 0.6 (not): recall 2/4, precision 2/4.
    assert described["threshold_point"] == [0.5, 0.5]
    recalls = [recall for recall, _ in described["pr_curve"]]
    assert recalls == sorted(recalls) and recalls[0] == 0 and recalls[-1] == 1
    assert len(described["calibration"]) > 1
    assert all(0 <= p <= 1 and 0 <= o <= 1 for p, o in described["calibration"])


def test_scores_of_one_class_only_describe_no_curve():
    assert "pr_curve" not in describe_scores([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.5)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["noise_a", "signal", "noise_b", "c"])
    y = (X["signal"] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return X, y


@pytest.mark.parametrize(
    ("model", "method"),
    [
        (LogisticRegression(), "|coefficient| (standardised)"),
        (HistGradientBoostingClassifier(max_iter=20), "drop in PR-AUC when shuffled"),
    ],
)
def test_the_feature_that_carries_the_signal_comes_first(frame, model, method):
    X, y = frame
    pipeline = Pipeline([("model", model)]).fit(X, y)

    found = top_features(pipeline, X, y)

    assert found["method"] == method
    assert found["features"][0][0] == "signal"


def test_features_are_named_after_the_columns_the_model_kept(frame):
    from training.pipeline.estimators import InformativeColumns

    X, y = frame
    X = X.assign(constant=1.0)[["constant", *X.columns]]  # dropped before the model
    pipeline = Pipeline([("select", InformativeColumns()), ("model", LogisticRegression())])
    pipeline.fit(X, y)

    found = top_features(pipeline, X, y)

    assert found["features"][0][0] == "signal"
    assert "constant" not in [name for name, _ in found["features"]]


def test_only_the_columns_the_trees_split_on_are_shuffled_and_the_rest_count_zero(frame):
    from training.pipeline.estimators import InformativeColumns, columns_read

    X, y = frame
    # A constant column, dropped before the model: positions move by one.
    X = X.assign(constant=1.0)[["constant", *X.columns]]
    model = HistGradientBoostingClassifier(max_iter=5, max_depth=1, random_state=0)
    pipeline = Pipeline([("select", InformativeColumns()), ("model", model)]).fit(X, y)

    read = columns_read(pipeline)

    nodes = [p.nodes for iteration in model._predictors for p in iteration]
    split = sorted({int(n["feature_idx"]) for t in nodes for n in t if not n["is_leaf"]})
    assert list(read) == list(pipeline[0].keep_[split])
    # One split per tree, always on the signal: the only column worth shuffling.
    assert list(read) == [X.columns.get_loc("signal")]
    assert top_features(pipeline, X, y)["features"] == [["signal", pytest.approx(0.4, abs=0.2)]]
