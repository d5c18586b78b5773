import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from training.pipeline.estimators import CompiledTrees, positive_proba


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values take the learnt side
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * X[:, 2] ** 2) > 0.3).astype(int)
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=120, random_state=0)
    rows = rng.normal(size=(40, 6))
    rows.flags.writeable = False  # shared by every test of the module: copy before changing
    return model.fit(X, y), rows


def test_compiled_trees_give_scikit_learns_probabilities(fitted):
    model, shared = fitted
    X = shared.copy()
    X[::3, 1] = np.nan  # rows with a missing value take the side each split learnt
    X[1::4, 2] = np.nan
    expected = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(CompiledTrees(model).positive_proba(X), expected, rtol=1e-9)


def test_positive_proba_uses_the_compiled_trees_for_a_few_rows_only(fitted, monkeypatch):
    model, X = fitted
    calls = []
    original = CompiledTrees.positive_proba

    def counted(self, rows):
        calls.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(CompiledTrees, "positive_proba", counted)
    one = positive_proba(model, X[:1])
    many = positive_proba(model, np.repeat(X, 2, axis=0))
    assert calls == [1]
    assert one[0] == pytest.approx(many[0])


def test_a_pipeline_with_preprocessing_keeps_scikit_learns_path():
    rng = np.random.default_rng(1)
    X = rng.normal(loc=5.0, scale=2.0, size=(400, 3))
    y = (X[:, 0] + X[:, 1] > 10).astype(int)
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("model", HistGradientBoostingClassifier(max_iter=30))]
    ).fit(X, y)
    rows = X[:5]
    expected = pipeline.predict_proba(rows)[:, 1]
    # The trees alone, skipping the scaler, answer differently: the shortcut would be wrong.
    assert not np.allclose(CompiledTrees(pipeline[-1]).positive_proba(rows), expected)

    np.testing.assert_allclose(positive_proba(pipeline, rows), expected, rtol=1e-9)
