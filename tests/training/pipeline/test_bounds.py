import numpy as np
import pandas as pd
import pytest

from training.pipeline.bounds import RobustBounds
from training.pipeline.estimators import CompiledLinear, make_pipeline, positive_scores


def test_every_value_comes_out_bounded_and_missing_stays_missing():
    rng = np.random.default_rng(0)
    torque = 25 + rng.normal(size=200)
    X = np.column_stack([torque, torque])
    X[:6, 0] = [1e308, -1e308, np.inf, -np.inf, np.nan, 1e-308]

    bounds = RobustBounds(limit=10).fit(X)
    out = bounds.transform(
        np.array([[1e308, 25.0], [-1e308, np.nan], [np.inf, -np.inf], [1e-308, 1e308]])
    )

    # Median and spread come from the finite values: the extremes do not move them.
    assert bounds.center_ == pytest.approx([np.median(torque[6:]), np.median(torque)], abs=0.05)
    iqr = np.subtract(*np.percentile(torque, [75, 25]))
    assert bounds.spread_ == pytest.approx([iqr, iqr], rel=0.1)
    np.testing.assert_array_equal(out[:, 0], [10, -10, 10, -10])
    assert np.isnan(out[1, 1])
    assert out[2, 1] == -10 and out[3, 1] == 10
    assert 0 < abs(out[0, 1]) < 0.5  # a usual value stays near the middle


def test_the_map_keeps_the_order_of_values_within_the_limit():
    rng = np.random.default_rng(1)
    values = rng.standard_t(3, size=(500, 1))  # heavy tails on both sides
    values[:3] = [[40.0], [-60.0], [80.0]]

    out = RobustBounds(limit=10).fit(values).transform(values)[:, 0]

    assert out[:3].tolist() == [10, -10, 10]
    inside = np.abs(out) < 10
    assert inside.mean() > 0.98
    order = np.argsort(values[inside, 0])
    assert np.all(np.diff(out[inside][order]) > 0)


def test_a_flag_or_a_mostly_constant_count_keeps_its_steps():
    flag = np.r_[np.zeros(97), np.ones(3)]  # interquartile range nil: the 1-99% range serves
    count = np.r_[np.ones(199), 1e15]  # one count out of all proportion: the whole range serves
    lone = np.full(10, 7.0)  # one value: a spread of 1

    assert RobustBounds().fit(flag[:, None]).transform([[0.0], [1.0]])[:, 0].tolist() == [0, 1]
    bounded = RobustBounds().fit(count[:, None]).transform([[1.0], [1e15]])[:, 0]
    assert bounded.tolist() == [0, 1]
    assert RobustBounds().fit(lone[:, None]).transform([[8.0]])[0, 0] == 1


def test_a_column_without_any_finite_value_is_bounded_too():
    X = np.array([[np.nan, np.inf], [np.nan, np.nan], [np.nan, np.inf]])

    out = RobustBounds(limit=3).fit(X).transform(np.array([[5.0, -np.inf], [np.nan, 2.0]]))

    np.testing.assert_array_equal(out, [[3.0, -3.0], [np.nan, 2.0]])


def test_a_frame_stays_a_frame_with_its_names():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=["k1", "k2", "k3"])

    bounds = RobustBounds().fit(X)

    assert list(bounds.transform(X).index) == ["k1", "k2", "k3"]
    assert list(bounds.get_feature_names_out()) == ["a"]


def test_a_large_fit_reads_a_sample_of_rows_and_still_bounds_them_all():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(RobustBounds.MAX_ROWS * 3, 2))

    bounds = RobustBounds().fit(X)

    assert bounds.center_ == pytest.approx([0, 0], abs=0.05)
    assert np.abs(bounds.transform(X)).max() <= bounds.limit


def test_every_estimator_sees_bounded_columns():
    for name in ("hist_gradient_boosting", "sparse_logistic", "random_forest"):
        names = [step for step, _ in make_pipeline(name).steps]
        assert names[:2] == ["select", "bound"], name


def test_the_compiled_formula_replays_the_bounds_and_serves_versions_saved_without_them():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(800, 4)), columns=list("abcd"))
    y = (X["a"] + X["b"].abs() + rng.normal(size=800) > 1.2).astype(int)
    X.iloc[::50, 0] = 1e308
    X.iloc[::70, 1] = -1e308
    X.iloc[::9, 2] = np.nan
    new = X.iloc[:20].copy()
    new.iloc[0] = [np.inf, -np.inf, 1e-308, 1e308]
    bounded = make_pipeline("sparse_logistic", options={"C": 0.05}).fit(X, y)
    unbounded = make_pipeline("sparse_logistic", options={"C": 0.05})
    unbounded.steps = [step for step in unbounded.steps if step[0] != "bound"]
    clean = X.where(np.abs(X) < 1e300, np.nan)
    unbounded.fit(clean, y)

    for pipeline, rows in ((bounded, new), (unbounded, new.iloc[1:])):
        assert CompiledLinear.supports(pipeline.steps)
        expected = pipeline.predict_proba(rows)[:, 1]
        compiled = CompiledLinear(pipeline.steps).positive_proba(rows.to_numpy())
        np.testing.assert_allclose(compiled, expected, rtol=1e-12)
        np.testing.assert_allclose(positive_scores(pipeline, rows), expected, rtol=1e-12)
    assert np.isfinite(positive_scores(bounded, new)).all()
