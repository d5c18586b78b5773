import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression

from training.pipeline.estimators import (
    ESTIMATORS,
    CompiledLinear,
    CompiledTrees,
    InformativeColumns,
    MedianImputer,
    RelaxedLogistic,
    SparseLogistic,
    WithDeviations,
    make_pipeline,
    positive_scores,
    predict_positive,
    version_pipeline,
)
from training.pipeline.features import ResultFeatures


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values take the learnt side
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * X[:, 2] ** 2) > 0.3).astype(int)
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=120, random_state=0)
    return model.fit(X, y), rng.normal(size=(40, 6))


def test_compiled_trees_give_scikit_learns_probabilities(fitted):
    model, X = fitted
    X = X.copy()
    X[::3, 1] = np.nan
    expected = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(CompiledTrees(model).positive_proba(X), expected, rtol=1e-12)


def test_the_compiled_trees_serve_a_few_rows_only(fitted, monkeypatch):
    model, X = fitted
    estimator = make_pipeline("hist_gradient_boosting")
    estimator.steps = [("select", InformativeColumns().fit(X)), ("model", model)]
    calls = []
    original = CompiledTrees.positive_proba

    def counted(self, rows):
        calls.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(CompiledTrees, "positive_proba", counted)
    one = positive_scores(estimator, X[:1])
    many = positive_scores(estimator, np.repeat(X, 2, axis=0))
    assert calls == [1]
    assert one[0] == pytest.approx(many[0], rel=1e-12)


def test_only_a_plain_binary_gradient_boosting_model_is_compiled():
    assert not CompiledTrees.supports(make_pipeline("logistic_regression"))
    assert not CompiledTrees.supports(HistGradientBoostingClassifier())  # not fitted


def test_informative_columns_drop_empty_and_constant_columns_only():
    X = pd.DataFrame({
        "empty": [np.nan] * 4,
        "constant": [1.0] * 4,
        "present_or_not": [1.0, np.nan, 1.0, np.nan],  # whether a test ran is information
        "varies": [1.0, 2.0, 3.0, 4.0],
    })

    kept = InformativeColumns().fit(X).transform(X)

    assert list(kept.columns) == ["present_or_not", "varies"]


def result_rows(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-05-16 06:00")
    rows, labels = [], {}
    for i in range(n):
        knr = f"2024-{i:07d}"
        torque, voltage = rng.normal(), rng.normal()
        for name, value in (("SECTION_ZP8_00000001", torque), ("042000", voltage)):
            rows.append({"KNR": knr, "NAME": name, "ID": 2, "STATUS": 10, "VALUE_ID": 1.0,
                         "VALUE": value, "DATA": t0 + pd.Timedelta(minutes=i)})
        labels[knr] = int(torque + 0.5 * rng.normal() > 0.4)
    return pd.DataFrame(rows), pd.Series(labels).sort_index()


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_the_door_gives_scikit_learns_probabilities_for_every_estimator(name):
    rows, y = result_rows(300)
    builder = ResultFeatures().fit(rows)
    estimator = make_pipeline(name).fit(builder.transform(rows), y)
    pipeline = version_pipeline(builder, estimator)
    one_knr = rows[rows["KNR"] == "2024-0000007"]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the door silences nothing it does not cause
        one = predict_positive(pipeline, one_knr)
        every = predict_positive(pipeline, rows)

    expected = pipeline.predict_proba(rows)[:, 1]  # scikit-learn's own path, rows to proba
    np.testing.assert_allclose(every.to_numpy(), expected, rtol=1e-12)
    assert list(every.index) == sorted(y.index)
    assert one.loc["2024-0000007"] == pytest.approx(every.loc["2024-0000007"], rel=1e-12)


def test_versions_trained_together_build_their_features_once(monkeypatch):
    rows, y = result_rows(200)
    builder = ResultFeatures().fit(rows)
    features = builder.transform(rows)
    first = version_pipeline(builder, make_pipeline("logistic_regression").fit(features, y))
    second = version_pipeline(builder, make_pipeline("logistic_regression").fit(features, 1 - y))
    calls = []
    original = ResultFeatures.transform
    monkeypatch.setattr(
        ResultFeatures, "transform", lambda self, X: calls.append(1) or original(self, X)
    )

    shared: dict = {}
    p = predict_positive(first, rows, features=shared)
    q = predict_positive(second, rows, features=shared)

    assert len(calls) == 1
    assert (p.corr(q)) < -0.99


def test_deviations_stand_beside_their_columns_and_are_named():
    X = pd.DataFrame({"torque": [-2.0, 0.5], "voltage": [1.0, -0.25]})

    step = WithDeviations().fit(X)

    np.testing.assert_array_equal(
        step.transform(X), [[-2.0, 1.0, 2.0, 1.0], [0.5, -0.25, 0.5, 0.25]]
    )
    assert list(step.get_feature_names_out()) == ["torque", "voltage", "|torque|", "|voltage|"]


def logistic_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Twenty readings of which two drive the log-odds: one by its sign, one by its size."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"t{i}" for i in range(20)])
    logit = -3.0 + 1.5 * X["t3"] + 2.0 * X["t7"].abs()
    p = 1 / (1 + np.exp(-logit.to_numpy()))
    return X, (rng.random(n) < p).astype(int), p


def test_the_sparse_logistic_model_keeps_the_driving_columns_and_calibrated_odds():
    X, y, _ = logistic_data(6000)
    X_test, y_test, p_test = logistic_data(4000, seed=1)

    pipeline = make_pipeline("sparse_logistic", options={"C": 0.02}).fit(X, y)

    weights = pd.Series(pipeline[-1].coef_[0], index=pipeline[:-1].get_feature_names_out())
    strongest = weights.abs().nlargest(2).index
    assert set(strongest) == {"t3", "|t7|"}
    assert (weights != 0).sum() < 10  # the penalty dropped most of the forty columns
    proba = positive_scores(pipeline, X_test)
    # Calibrated: as many failures predicted as observed, and close to the true odds.
    assert proba.mean() == pytest.approx(y_test.mean(), abs=0.01)
    assert np.abs(proba - p_test).mean() < 0.03


def test_the_sparse_logistic_model_fits_l1_on_a_sample_by_class_and_keeps_the_odds():
    X, y, _ = logistic_data(6000)
    X_test, y_test, _ = logistic_data(4000, seed=1)
    model = SparseLogistic(C=0.05, max_rows=1000, random_state=0)

    rows = model._sample(y)
    model.fit(X, y)

    assert len(rows) == 1000
    # The rarer class (failing) up to half of the sample, the rest from the other.
    assert y[rows].sum() == 500 < y.sum()
    # The slopes come from the balanced sample; scale and offset from every row.
    proba = model.predict_proba(X_test.to_numpy())[:, 1]
    assert proba.mean() == pytest.approx(y_test.mean(), abs=0.015)
    assert SparseLogistic(max_rows=10**6)._sample(y).tolist() == list(range(len(y)))


def small_effects(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sixty readings of which twenty-five drive the log-odds, each a little, unequally."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 60))
    p = 1 / (1 + np.exp(1.5 - X[:, :25] @ np.linspace(0.1, 0.7, 25)))
    return X, (rng.random(n) < p).astype(int), p


def test_the_relaxed_logistic_model_refits_the_kept_columns_weights():
    X, y, _ = small_effects(3000)
    X_test, _, p_test = small_effects(3000, seed=1)

    relaxed = RelaxedLogistic(C=0.03).fit(X, y)
    sparse = SparseLogistic(C=0.03).fit(X, y)

    kept = np.flatnonzero(relaxed.coef_[0])
    assert 10 < len(kept) < 40  # L1 chose the columns
    assert set(kept) <= set(np.flatnonzero(sparse.coef_[0]))
    refit = LogisticRegression(C=0.1).fit(X[:, kept], y)
    np.testing.assert_allclose(relaxed.coef_[0, kept], refit.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(relaxed.intercept_, refit.intercept_, rtol=1e-6)
    # The weak effects' weights, shrunk most by L1, come back: closer to the true odds.
    error = np.abs(relaxed.predict_proba(X_test)[:, 1] - p_test).mean()
    assert error < 0.8 * np.abs(sparse.predict_proba(X_test)[:, 1] - p_test).mean()


def test_the_relaxed_logistic_model_without_a_kept_column_predicts_the_prevalence():
    X, y, _ = small_effects(1000)

    model = RelaxedLogistic(C=1e-5).fit(X, y)

    assert not model.coef_.any()
    np.testing.assert_allclose(model.predict_proba(X[:5])[:, 1], y.mean(), rtol=1e-3)


def test_the_relaxed_logistic_pipeline_reads_the_readings_alone():
    X, y, _ = logistic_data(2000)
    frame = pd.concat(
        [
            X.add_prefix("value|"),
            (X > 2.5).astype(float).add_prefix("last_nok|"),
            pd.DataFrame({"n_nok": (X > 2.5).sum(axis=1), "hour": np.arange(2000) % 24}),
        ],
        axis=1,
    )

    pipeline = make_pipeline("relaxed_logistic").fit(frame, y)

    assert list(pipeline[0].get_feature_names_out()) == list(X.add_prefix("value|").columns)
    weights = pd.Series(pipeline[-1].coef_[0], index=pipeline[:-1].get_feature_names_out())
    assert set(weights.abs().nlargest(2).index) == {"value|t3", "|value|t7|"}
    with pytest.raises(ValueError, match=r"no columns named value\|"):
        make_pipeline("relaxed_logistic").fit(frame.drop(columns=X.add_prefix("value|")), y)


def test_the_compiled_formula_gives_the_sparse_pipelines_probabilities():
    X, y, _ = logistic_data(3000)
    X.iloc[::7, 3] = np.nan  # a driving column partly missing: median and indicator
    X.iloc[::5, 11] = np.nan
    X["constant"] = 1.0  # dropped by InformativeColumns
    pipeline = make_pipeline("sparse_logistic", options={"C": 0.05}).fit(X, y)
    X_new, _, _ = logistic_data(40, seed=3)
    X_new["constant"] = 1.0
    X_new.iloc[::3, 3] = np.nan
    X_new.iloc[::4, 11] = np.nan

    compiled = CompiledLinear(pipeline.steps)

    expected = pipeline.predict_proba(X_new)[:, 1]
    np.testing.assert_allclose(compiled.positive_proba(X_new.to_numpy()), expected, rtol=1e-12)
    np.testing.assert_allclose(positive_scores(pipeline, X_new.iloc[:5]), expected[:5], rtol=1e-12)
    assert CompiledLinear.supports(pipeline.steps)
    assert not CompiledLinear.supports(make_pipeline("logistic_regression").fit(X, y).steps)


def test_the_compiled_formula_gives_the_relaxed_pipelines_probabilities():
    X, y, _ = logistic_data(3000)
    X.iloc[::7, 3] = np.nan  # a driving column partly missing: its median fills it
    X["constant"] = 1.0  # dropped by InformativeColumns
    frame = pd.concat(
        [X.add_prefix("value|"), (X > 2.5).astype(float).add_prefix("last_nok|")], axis=1
    )
    pipeline = make_pipeline("relaxed_logistic").fit(frame, y)
    X_new, _, _ = logistic_data(40, seed=3)
    X_new["constant"] = 1.0
    X_new.iloc[::3, 3] = np.nan
    new = pd.concat(
        [X_new.add_prefix("value|"), (X_new > 2.5).astype(float).add_prefix("last_nok|")],
        axis=1,
    )

    assert CompiledLinear.supports(pipeline.steps)
    compiled = CompiledLinear(pipeline.steps)

    expected = pipeline.predict_proba(new)[:, 1]
    assert 0 < np.count_nonzero(pipeline[-1].coef_) < pipeline[-1].coef_.size
    np.testing.assert_allclose(compiled.positive_proba(new.to_numpy()), expected, rtol=1e-12)
    np.testing.assert_allclose(positive_scores(pipeline, new.iloc[:5]), expected[:5], rtol=1e-12)
    # It reads only readings with a weight, never the NOK flags beside them.
    read = new.columns[compiled.columns_read()]
    assert len(read) and all(name.startswith("value|") for name in read)


@pytest.mark.parametrize("indicator", [False, True])
def test_the_median_imputer_fills_what_scikit_learns_median_imputer_fills(indicator):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(401, 7))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[:, 2] = np.nan  # never measured: filled with 0, as keep_empty_features does
    X[:200, 4] = np.nan  # an even count left: the mean of the two middle values
    X[:, 5] = np.round(X[:, 5])  # ties
    options = {"strategy": "median", "keep_empty_features": True, "add_indicator": indicator}
    ours, theirs = MedianImputer(**options).fit(X), SimpleImputer(**options).fit(X)

    np.testing.assert_array_equal(ours.statistics_, theirs.statistics_)
    assert ours.statistics_[2] == 0
    new = rng.normal(size=(30, 7))
    new[::3] = np.nan
    np.testing.assert_array_equal(ours.transform(new), theirs.transform(new))
    # Another strategy is scikit-learn's own fit.
    mean = {"strategy": "mean", "keep_empty_features": True}
    np.testing.assert_array_equal(
        MedianImputer(**mean).fit(X).statistics_, SimpleImputer(**mean).fit(X).statistics_
    )


def test_a_version_whose_imputer_is_scikit_learns_own_is_still_compiled():
    """Versions saved before the median imputer hold SimpleImputer: the same formula."""
    X, y, _ = logistic_data(3000)
    X.iloc[::7, 3] = np.nan
    pipeline = make_pipeline("sparse_logistic", options={"C": 0.05}).fit(X, y)
    assert isinstance(pipeline.named_steps["impute"], MedianImputer)
    old = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    steps = [(name, step) for name, step in pipeline.steps]
    at = [name for name, _ in steps].index("impute")
    kept = pipeline[:at].transform(X)
    steps[at] = ("impute", old.fit(kept))
    np.testing.assert_array_equal(old.statistics_, pipeline.named_steps["impute"].statistics_)

    assert CompiledLinear.supports(steps)
    X_new, _, _ = logistic_data(40, seed=3)
    np.testing.assert_allclose(
        CompiledLinear(steps).positive_proba(X_new.to_numpy()),
        pipeline.predict_proba(X_new)[:, 1],
        rtol=1e-12,
    )


@pytest.mark.parametrize("cls", [InformativeColumns, WithDeviations])
def test_a_version_saved_when_the_transformers_lived_in_estimators_still_loads(cls):
    fitted = cls().fit(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 1.0]}))
    # The module path as an artifact saved before transforms.py existed names it (same length).
    saved = pickle.dumps(fitted).replace(
        b"training.pipeline.transforms", b"training.pipeline.estimators"
    )
    assert b"training.pipeline.estimators" in saved and b"transforms" not in saved

    loaded = pickle.loads(saved)  # the test's own bytes

    assert type(loaded) is cls
    assert loaded.transform(np.array([[3.0, 1.0]])).shape == fitted.transform(
        np.array([[3.0, 1.0]])
    ).shape
