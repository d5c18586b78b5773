"""The sklearn estimator: a column aligner, preprocessing and a classifier in one Pipeline."""

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


class ColumnAligner(TransformerMixin, BaseEstimator):
    """Remember the training feature columns; reindex any frame to them (missing → NaN)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> "ColumnAligner":
        """Remember the columns of the training frame."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ColumnAligner needs a DataFrame with named feature columns")
        self.feature_columns_ = [str(column) for column in X.columns]
        self.n_features_in_ = len(self.feature_columns_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return X with exactly the training columns, in training order, as floats."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ColumnAligner needs a DataFrame with named feature columns")
        # Columns unseen at fit are dropped; columns absent here (a test the vehicle did not
        # run) become NaN, which every estimator below treats as missing.
        aligned = X.reindex(columns=self.feature_columns_)
        return aligned.astype(np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the training feature columns."""
        return np.asarray(self.feature_columns_, dtype=object)


def _logistic_regression(random_state: int) -> list[tuple[str, Any]]:
    return [
        # keep_empty_features: a column empty in training stays, so shapes never drift.
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=0.1, max_iter=2000, random_state=random_state)),
    ]


def _random_forest(random_state: int) -> list[tuple[str, Any]]:
    # Trees in sklearn ≥ 1.4 split on missing values themselves: no imputer needed.
    return [
        (
            "model",
            RandomForestClassifier(
                n_estimators=300,
                min_samples_leaf=3,
                max_features="sqrt",
                n_jobs=-1,
                random_state=random_state,
            ),
        )
    ]


def _hist_gradient_boosting(random_state: int) -> list[tuple[str, Any]]:
    # Native missing-value support. Shallow trees, a slow learning rate and early stopping
    # on log-loss measured best on the demo data (bench/results/compare_estimators.md);
    # deeper or faster-learning trees overfitted the rare fail groups.
    return [
        (
            "model",
            HistGradientBoostingClassifier(
                learning_rate=0.03,
                max_iter=600,
                max_depth=2,
                min_samples_leaf=50,
                l2_regularization=1.0,
                early_stopping=True,
                scoring="loss",
                validation_fraction=0.2,
                n_iter_no_change=50,
                random_state=random_state,
            ),
        )
    ]


ESTIMATORS: dict[str, Callable[[int], list[tuple[str, Any]]]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "hist_gradient_boosting": _hist_gradient_boosting,
}


def make_pipeline(name: str, *, random_state: int = 0) -> Pipeline:
    """Return an unfitted Pipeline (aligner, preprocessing, classifier) for estimator `name`."""
    try:
        factory = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(ESTIMATORS)}") from None
    return Pipeline([("align", ColumnAligner()), *factory(random_state)])


class CompiledTrees:
    """A fitted binary HistGradientBoostingClassifier's trees as flat arrays.

    scikit-learn predicts tree by tree, with a fixed cost per tree that dominates a
    one-vehicle prediction (hundreds of trees per kind, nine kinds). Walking every tree at once
    with array indexing gives the same probabilities (checked against predict_proba in the
    tests) in a fraction of the time; large batches keep scikit-learn's own path.
    """

    MAX_ROWS = 32

    def __init__(self, model: HistGradientBoostingClassifier) -> None:
        nodes = [predictor.nodes for iteration in model._predictors for predictor in iteration]
        sizes = np.array([len(tree) for tree in nodes])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        flat = np.concatenate(nodes)
        shift = np.repeat(offsets, sizes)
        self.roots = offsets
        self.feature = flat["feature_idx"].astype(np.intp)
        self.threshold = flat["num_threshold"]
        self.missing_left = flat["missing_go_to_left"].astype(bool)
        self.left = flat["left"].astype(np.intp) + shift
        self.right = flat["right"].astype(np.intp) + shift
        self.is_leaf = flat["is_leaf"].astype(bool)
        self.value = flat["value"]
        self.baseline = float(np.ravel(model._baseline_prediction)[0])

    @classmethod
    def supports(cls, model: object) -> bool:
        """Binary, numeric-only, fitted HistGradientBoostingClassifier."""
        return (
            isinstance(model, HistGradientBoostingClassifier)
            and hasattr(model, "_predictors")
            and list(model.classes_) == [0, 1]
            and not any(p.nodes["is_categorical"].any() for it in model._predictors for p in it)
        )

    def positive_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of a float array with the model's columns."""
        raw = np.empty(len(X))
        for i, row in enumerate(X):
            node = self.roots.copy()
            inner = ~self.is_leaf[node]
            while inner.any():
                at = node[inner]
                x = row[self.feature[at]]
                go_left = np.where(np.isnan(x), self.missing_left[at], x <= self.threshold[at])
                node[inner] = np.where(go_left, self.left[at], self.right[at])
                inner = ~self.is_leaf[node]
            raw[i] = self.baseline + self.value[node].sum()
        return 1.0 / (1.0 + np.exp(-raw))


_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_trees(model: ClassifierMixin, X: Any) -> CompiledTrees | None:
    """The compiled trees for a few rows of a plain array through a lone HGB model, or None."""
    final = model[-1] if isinstance(model, Pipeline) and len(model.steps) == 1 else model
    if not isinstance(X, np.ndarray) or len(X) > CompiledTrees.MAX_ROWS:
        return None
    if final not in _compiled:
        _compiled[final] = CompiledTrees(final) if CompiledTrees.supports(final) else None
    return _compiled[final]


def positive_proba(model: ClassifierMixin, X: pd.DataFrame) -> np.ndarray:
    """Return the predicted probability of the positive class (1) for each row."""
    compiled = _compiled_trees(model, X)
    if compiled is not None:
        return compiled.positive_proba(X)
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    if 1 in classes:
        return proba[:, classes.index(1)]
    return np.zeros(len(X))
