import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from training.pipeline.estimators import CompiledTrees, make_pipeline, positive_proba


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
    X[::3, 1] = np.nan
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
    pipeline = make_pipeline("logistic_regression")
    assert not CompiledTrees.supports(pipeline)
