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


def test_a_sparse_formula_reads_the_columns_it_weighs_and_their_missing_flags():
    from training.pipeline.estimators import columns_read, make_pipeline

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    X.loc[X.index[::3], "d"] = np.nan  # its missing flag is the signal
    y = ((X["b"] > 0.5) | X["d"].isna()).astype(int)
    pipeline = make_pipeline("sparse_logistic", options={"C": 0.05}).fit(X, y)

    read = columns_read(pipeline)

    assert list(read) == [X.columns.get_loc("b"), X.columns.get_loc("d")]
    shuffled = X.copy()
    for j in sorted(set(range(5)) - set(read)):
        shuffled.iloc[:, j] = rng.permutation(shuffled.iloc[:, j].to_numpy())
    np.testing.assert_allclose(
        pipeline.predict_proba(shuffled)[:, 1], pipeline.predict_proba(X)[:, 1], rtol=1e-12
    )


def test_a_combined_fail_model_is_explained_by_re_scoring_only_the_parts_a_column_feeds(
    monkeypatch,
):
    from training.pipeline import explain
    from training.pipeline.estimators import AnyFailure, make_pipeline

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(300, 6)), columns=list("abcdef"))
    groups = [
        make_pipeline("sparse_logistic", options={"C": 0.05}).fit(X, (X["a"] > 0.8).astype(int)),
        make_pipeline("hist_gradient_boosting", options={"max_iter": 5, "max_depth": 1})
        .fit(X, (X["b"] > 0.8).astype(int)),
    ]
    direct = make_pipeline("logistic_regression").fit(X, (X["c"] > 0).astype(int))
    combined = Pipeline([("any_failure", AnyFailure(direct, groups, direct_weight=0.0))])
    y = ((X["a"] > 0.8) | (X["b"] > 0.8)).to_numpy().astype(int)
    viewed: list[object] = []
    scored: list[object] = []
    original_of, original_scores = explain._View.of.__func__, explain._View.scores

    def viewing(cls, part, features):
        viewed.append(part)
        return original_of(cls, part, features)

    def counting(self):
        scored.append(self)
        return original_scores(self)

    monkeypatch.setattr(explain._View, "of", classmethod(viewing))
    monkeypatch.setattr(explain._View, "scores", counting)
    drops = explain._permutation_drops(combined, X, y, random_state=0)

    # The direct model weighs nothing: never scored. Each group once, then once per column
    # it reads; every other column is never shuffled.
    assert direct not in viewed and len(viewed) == 2
    assert len(scored) == 2 + 2
    assert drops[X.columns.get_loc("a")] > 0 and drops[X.columns.get_loc("b")] > 0
    assert np.count_nonzero(drops) == 2
    # The same drops as shuffling each column through the whole model, in the same order.
    rng = np.random.default_rng(0)
    whole = combined.predict_proba(X)[:, 1]
    from sklearn.metrics import average_precision_score

    for j in (X.columns.get_loc("a"), X.columns.get_loc("b")):
        moved = X.copy()
        moved.iloc[:, j] = rng.permutation(moved.iloc[:, j].to_numpy())
        expected = average_precision_score(y, whole) - average_precision_score(
            y, combined.predict_proba(moved)[:, 1]
        )
        assert drops[j] == pytest.approx(expected, abs=1e-12)
