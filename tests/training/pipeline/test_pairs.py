import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from training.pipeline.estimators import (
    CompiledPairs,
    columns_read,
    make_pipeline,
    positive_scores,
)
from training.pipeline.pairs import PairTerms


def product_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """Thirty readings (and a NOK flag each); the risk is a torque times a gap (the same way
    adds up, opposite ways cancel), plus a deviation that counts only after a long cure."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 30)), columns=[f"t{i}" for i in range(30)])
    logit = -2.5 + 1.6 * X["t3"] * X["t7"] + 1.8 * (X["t11"].abs() - 0.8) * (X["t12"] > 0.3)
    p = 1 / (1 + np.exp(-logit.to_numpy()))
    frame = pd.concat(
        [
            (25 + 0.8 * X).add_prefix("value|"),
            (X.abs() > 2.5).astype(float).add_prefix("last_nok|"),
        ],
        axis=1,
    )
    return frame, pd.Series((rng.random(n) < p).astype(int)), p


@pytest.fixture(scope="module")
def fitted():
    X, y, _ = product_data(3000)
    return X, y, make_pipeline("pairwise_logistic").fit(X, y)


def test_the_pairwise_model_learns_a_product_the_other_candidates_cannot(fitted):
    X, y, pairwise = fitted
    X_test, y_test, p_test = product_data(3000, seed=1)
    ceiling = average_precision_score(y_test, p_test)

    def share(name: str) -> float:
        model = pairwise if name == "pairwise_logistic" else make_pipeline(name).fit(X, y)
        return average_precision_score(y_test, positive_scores(model, X_test)) / ceiling

    shares = {
        name: share(name)
        for name in (
            "pairwise_logistic", "relaxed_logistic", "sparse_logistic", "hist_gradient_boosting"
        )
    }

    assert shares["pairwise_logistic"] > 0.9, shares
    others = max(v for k, v in shares.items() if k != "pairwise_logistic")
    assert shares["pairwise_logistic"] > others + 0.1, shares
    weights = pd.Series(pairwise[-1].coef_[0], index=pairwise[:-1].get_feature_names_out())
    assert weights.abs().idxmax() == "value|t3*value|t7"


def test_the_screen_keeps_the_columns_of_an_interaction_that_moves_nothing_alone(fitted):
    X, _, pairwise = fitted
    names = pairwise[:-1].get_feature_names_out()
    terms = pairwise.named_steps["pairs"]

    screened = set(pairwise[:-2].get_feature_names_out()[terms.screened_])

    # t3 and t7 alone carry no risk (their product's mean is nil), yet the trees split on them.
    assert {"value|t3", "value|t7", "value|t11", "value|t12"} <= screened
    assert len(screened) <= terms.screen
    assert len(names) == 2 * 30 + len(terms.left_)
    assert all(not name.startswith("last_nok|") for name in names)


def test_every_term_is_bounded_whatever_the_values():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(500, 6))
    y = (z[:, 0] * z[:, 1] > 0.5).astype(int)
    terms = PairTerms(screen=4, random_state=0).fit(z, y)

    wild = np.array([[1e308, -1e308, 1e-308, 1e300, -1e300, 0.0]] * 3)
    out = terms.transform(wild)

    assert np.isfinite(out).all()
    # Each term before its standardisation lies within ±limit² (±16 here).
    bound = (terms.limit**2 + np.abs(terms.mean_)) / terms.scale_ * terms.weight_
    assert (np.abs(out) <= bound + 1e-9).all()
    assert terms.weight_[12:].tolist() == [terms.product_weight] * len(terms.left_)


def test_extreme_values_reach_no_fit_and_come_out_as_probabilities():
    X, y, _ = product_data(1500)
    X.iloc[::40, 3] = 1e308
    X.iloc[::55, 7] = -1e308
    X.iloc[::60, 11] = 1e-308
    X.iloc[::70, 12] = np.inf
    X.iloc[::9, 5] = np.nan
    X["value|t29"] = np.nan  # a reading no vehicle of this fit has
    rows = X.iloc[:20].copy()
    rows.iloc[0, :6] = [np.inf, -np.inf, 1e308, -1e308, 1e-308, np.nan]

    pairwise = make_pipeline("pairwise_logistic").fit(X, y)

    scores = positive_scores(pairwise, rows, any_size=True)
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    np.testing.assert_allclose(scores, pairwise.predict_proba(rows)[:, 1], rtol=1e-9)


def test_the_compiled_formula_gives_the_pipelines_probabilities(fitted):
    X, _, pairwise = fitted
    X_new, _, _ = product_data(50, seed=3)
    X_new.iloc[::3, 3] = np.nan  # a weighed reading missing: its median fills it
    X_new.iloc[0, 7] = 1e308
    X_new.iloc[1, 11] = -np.inf

    assert CompiledPairs.supports(pairwise.steps)
    compiled = CompiledPairs(pairwise.steps)

    expected = pairwise.predict_proba(X_new)[:, 1]
    np.testing.assert_allclose(compiled.positive_proba(X_new.to_numpy()), expected, rtol=1e-10)
    np.testing.assert_allclose(positive_scores(pairwise, X_new.iloc[:5]), expected[:5],
                               rtol=1e-10)
    # It reads the readings behind a weighed term (a product: both), never the NOK flags.
    read = set(X.columns[columns_read(pairwise)])
    assert {"value|t3", "value|t7", "value|t11", "value|t12"} <= read
    assert len(read) < 30 and all(name.startswith("value|") for name in read)
    shuffled = X_new.copy()
    others = [c for c in X.columns if c not in read]
    shuffled[others] = shuffled[others].sample(frac=1, random_state=0).to_numpy()
    np.testing.assert_array_equal(compiled.positive_proba(shuffled.to_numpy()),
                                  compiled.positive_proba(X_new.to_numpy()))


def test_a_saved_pairwise_version_loads_and_predicts_the_same(fitted, tmp_path):
    X, _, pairwise = fitted
    stored = tmp_path / "pairwise.joblib"
    joblib.dump(pairwise, stored)

    loaded = joblib.load(stored)  # written by this test

    np.testing.assert_array_equal(
        positive_scores(loaded, X.iloc[:100], any_size=True),
        positive_scores(pairwise, X.iloc[:100], any_size=True),
    )
