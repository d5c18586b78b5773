"""The estimators, and the one door from a fitted version's Pipeline to probabilities.

A version's Pipeline is `ResultFeatures` (long result rows → one row per KNR) followed by the
estimator's own steps; `predict_positive` is how every caller turns rows into probabilities.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from training.pipeline.binning import GradientBoosting
from training.pipeline.bounds import RobustBounds
from training.pipeline.compiled import (
    CompiledLinear,
    CompiledPairs,
    CompiledTrees,
    compiled_formula,
    compiled_steps,
    compiled_trees,
)

# Versions stored before linear.py and transforms.py existed name these classes from here:
# they stay importable.
from training.pipeline.linear import RelaxedLogistic, SparseLogistic
from training.pipeline.pairs import PairTerms
from training.pipeline.screen import ScreenedReadings
from training.pipeline.transforms import (
    InformativeColumns,
    MedianImputer,
    PivotColumns,
    ReadingColumns,
    WithDeviations,
)


def _logistic_regression(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    return [
        ("impute", MedianImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        (
            "model",
            LogisticRegression(
                **{"C": 0.1, "max_iter": 2000, "random_state": random_state, **options}
            ),
        ),
    ]


def _sparse_logistic(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    return [
        ("impute", MedianImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("deviations", WithDeviations()),
        ("model", SparseLogistic(**{"random_state": random_state, **options})),
    ]


def _relaxed_logistic(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    # Readings alone: beside them, the NOK flags and counts made this model worse where risk
    # is the sum of many small deviations (bench/results/fail_ceiling.md). The second scaling
    # puts the deviations on the readings' scale, so that one penalty weighs both alike.
    return [
        ("view", ReadingColumns()),
        ("impute", MedianImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("deviations", WithDeviations()),
        ("rescale", StandardScaler()),
        ("model", RelaxedLogistic(**{"random_state": random_state, **options})),
    ]


def _screened_logistic(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    # The relaxed model's steps on the readings of the tests a score test keeps, every column
    # of them weighed by one L2 fit (no L1 choice among a test's screws).
    screen = {k: options.pop(k) for k in ("alpha", "second_alpha") if k in options}
    return [
        ("view", ScreenedReadings(**screen)),
        ("impute", MedianImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("deviations", WithDeviations()),
        ("rescale", StandardScaler()),
        ("model", RelaxedLogistic(**{"random_state": random_state, "C": None, **options})),
    ]


def _pairwise_logistic(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    # The relaxed model's readings, deviations and weights, and the products of the readings
    # shallow trees split on most: risks that are one reading times another.
    terms = {k: options.pop(k) for k in ("screen", "deviations", "product_weight")
             if k in options}
    return [
        ("view", ReadingColumns()),
        ("impute", MedianImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("pairs", PairTerms(**{"random_state": random_state, **terms})),
        ("model", RelaxedLogistic(**{"random_state": random_state, **options})),
    ]


def _random_forest(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    # Trees in sklearn ≥ 1.4 split on missing values themselves: no imputer needed.
    defaults = {
        "n_estimators": 300,
        "min_samples_leaf": 3,
        "max_features": "sqrt",
        "n_jobs": -1,
        "random_state": random_state,
    }
    return [("model", RandomForestClassifier(**{**defaults, **options}))]


def _hist_gradient_boosting(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    # Native missing-value support. The budget and learning rate are the pipeline
    # definition's `estimator_options` (chosen by bench/results/train_speed.md); these
    # defaults only serve a definition that names none.
    defaults = {
        "learning_rate": 0.1,
        "max_iter": 300,
        "max_depth": 3,
        "min_samples_leaf": 40,
        "l2_regularization": 1.0,
        "early_stopping": True,
        "scoring": "loss",
        "validation_fraction": 0.2,
        "n_iter_no_change": 20,
        "random_state": random_state,
    }
    return [("model", GradientBoosting(**{**defaults, **options}))]


def _plain_gradient_boosting(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    # The plain approach: its own view of the features, scikit-learn's defaults (options from
    # the pipeline definition only where it names some).
    return [
        ("view", PivotColumns()),
        ("model", GradientBoosting(**{"random_state": random_state, **options})),
    ]


ESTIMATORS: dict[str, Callable[..., list[tuple[str, Any]]]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "hist_gradient_boosting": _hist_gradient_boosting,
    "sparse_logistic": _sparse_logistic,
    "relaxed_logistic": _relaxed_logistic,
    "pairwise_logistic": _pairwise_logistic,
    "screened_logistic": _screened_logistic,
    "plain_gradient_boosting": _plain_gradient_boosting,
}
# The estimator that is the plain approach: the yardstick each kind's choice is held against.
PLAIN = "plain_gradient_boosting"


def make_pipeline(
    name: str, *, random_state: int = 0, options: dict[str, Any] | None = None
) -> Pipeline:
    """An unfitted estimator Pipeline (its view of the features if it has one, informative
    columns, bounds, preprocessing, classifier).

    Every estimator sees its columns bounded (RobustBounds), whatever values the data holds.
    """
    try:
        factory = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(ESTIMATORS)}") from None
    own = factory(random_state, **(options or {}))
    view = own[:1] if own[0][0] == "view" else []
    return Pipeline(
        [
            *view,
            ("select", InformativeColumns()),
            ("bound", RobustBounds()),
            *own[len(view):],
        ]
    )


def version_pipeline(features: TransformerMixin, estimator: Pipeline) -> Pipeline:
    """One version's Pipeline: the fitted feature builder, then the fitted estimator's steps."""
    return Pipeline([("features", features), *estimator.steps])


class CombinedModel(ClassifierMixin, BaseEstimator):
    """A model built from fitted models, not fitted itself: subclasses give `positive_proba`."""

    # Why it cannot be fitted as a whole, and what to fit instead.
    not_refittable = "fit its parts instead"

    def fit(self, X: pd.DataFrame, y: Any = None) -> "CombinedModel":
        raise NotImplementedError(f"{type(self).__name__}: {self.not_refittable}.")

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def positive_proba(self, X: pd.DataFrame, *, any_size: bool = False) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[P(negative), P(positive)] per row of the feature frame."""
        positive = self.positive_proba(X)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where P(positive) is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


class AnyFailure(CombinedModel):
    """The fail model as a weighted mean of a direct fail model and "any fail group fails",
    1 − Π(1 − p_group) over the group models trained beside it.

    A vehicle fails when any of its groups does; the group models see the tests behind each
    group more sharply than one model of all of them, and the direct model still covers the
    groups too rare to have a model. `direct_weight` is the direct model's share of the mean.
    Built from fitted estimators; it is not fitted itself.
    """

    not_refittable = "each group model needs its own group's labels; fit its parts instead"

    def __init__(
        self, direct: Pipeline, groups: list[Pipeline], direct_weight: float = 0.5
    ) -> None:
        self.direct = direct
        self.groups = groups
        self.direct_weight = direct_weight

    def positive_proba(self, X: pd.DataFrame, *, any_size: bool = False) -> np.ndarray:
        """P(failure) per row of the feature frame (`any_size`: see `positive_scores`)."""
        return blend_failure(
            positive_scores(self.direct, X, any_size=any_size),
            [positive_scores(g, X, any_size=any_size) for g in self.groups],
            # Versions stored before the weight existed were the plain mean.
            getattr(self, "direct_weight", 0.5),
        )


class MeanLogOdds(CombinedModel):
    """Several fitted candidates of one kind as one: the sigmoid of the mean of their
    probabilities' log-odds.

    Where each of a few linear models is right on a different share of the risk (one keeps
    a section's strongest screws, another every screw of the telling sections, a third a
    reading times another), their mean ranks vehicles better than any of them, and its
    choice among candidates is one more candidate judged on the same blocks, not a guess
    among three made on a few dozen positives. Built from fitted estimators; it is not
    fitted itself.
    """

    not_refittable = "its parts are fitted as candidates of their own; fit them instead"

    def __init__(self, parts: list[Pipeline]) -> None:
        self.parts = parts

    def positive_proba(self, X: pd.DataFrame, *, any_size: bool = False) -> np.ndarray:
        """P(positive) per row of the feature frame (`any_size`: see `positive_scores`)."""
        return mean_log_odds([positive_scores(p, X, any_size=any_size) for p in self.parts])


# A part's probability is kept this far from 0 and 1: one part sure of a vehicle (a log-odds
# of ±inf, or ±37 at the float's end) must not decide the mean alone.
LOG_ODDS_CLIP = 1e-6


def mean_log_odds(scores: list[np.ndarray]) -> np.ndarray:
    """MeanLogOdds' probability from its parts' probabilities (each clipped to
    [LOG_ODDS_CLIP, 1 − LOG_ODDS_CLIP])."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), LOG_ODDS_CLIP, 1 - LOG_ODDS_CLIP)
    return expit(logit(clipped).mean(axis=0))


def combined_parts(model: AnyFailure) -> list[Pipeline]:
    """The models a combined fail model's probabilities depend on: the direct model (unless
    it weighs nothing), then the group models."""
    direct = [] if getattr(model, "direct_weight", 0.5) == 0 else [model.direct]
    return [*direct, *model.groups]


def blend_failure(
    direct: np.ndarray, groups: list[np.ndarray], direct_weight: float = 0.5
) -> np.ndarray:
    """AnyFailure's probability from the direct and the group models' probabilities."""
    any_group = 1.0 - np.prod([1.0 - np.asarray(g) for g in groups], axis=0)
    return direct_weight * np.asarray(direct) + (1.0 - direct_weight) * any_group


def _estimator_proba(
    steps: list[tuple[str, Any]], features: pd.DataFrame, *, any_size: bool = False
) -> np.ndarray:
    """P(class 1) from the fitted estimator steps that follow the feature builder."""
    model = steps[-1][1]
    if isinstance(model, CombinedModel) and len(steps) == 1:
        return model.positive_proba(features, any_size=any_size)
    small = any_size or len(features) <= CompiledTrees.MAX_ROWS
    compiled = compiled_steps(steps) if small else None
    # The compiled paths read a plain array: selecting columns of one DataFrame row cost ten
    # times the trees themselves (2.7 of 3 ms for seven kinds).
    X: Any = features
    if compiled is not None:
        # DataFrame.to_numpy: np.asarray on a one-row frame costs twenty times as much.
        X = (
            features.to_numpy(dtype=np.float64)
            if isinstance(features, pd.DataFrame)
            else np.asarray(features, dtype=np.float64)
        )
        if isinstance(compiled, CompiledLinear | CompiledPairs):
            return compiled.positive_proba(X)
    for _, transformer in steps[:-1]:
        X = transformer.transform(X)
    if compiled is not None:
        return compiled.positive_proba(np.asarray(X, dtype=np.float64))
    # The frame keeps its column names through every step: scikit-learn has nothing to warn
    # about, so no warning filter is needed (none is set anywhere).
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(X))


def columns_read(estimator: Any) -> np.ndarray | None:
    """The feature-frame columns a fitted estimator reads (sorted positions): those its trees
    split on, or those its sparse formula weighs; None when that is not known. Shuffling any
    other column cannot change its predictions."""
    steps = estimator.steps if isinstance(estimator, Pipeline) else [("model", estimator)]
    model = steps[-1][1]
    if isinstance(model, CombinedModel):
        whole = combined_parts(model) if isinstance(model, AnyFailure) else model.parts
        parts = [columns_read(part) for part in whole]
        if len(steps) > 1 or any(part is None for part in parts):
            return None
        return np.unique(np.concatenate(parts)).astype(np.intp)
    formula = compiled_formula(steps)
    if formula is not None:
        return formula.columns_read()
    if not CompiledTrees.supports(model):
        return None
    compiled = compiled_trees(model)
    read = np.unique(compiled.feature[~compiled.is_leaf])
    for _, step in reversed(steps[:-1]):
        if isinstance(step, RobustBounds):
            continue  # one column out for each column in
        if not isinstance(step, InformativeColumns):
            return None
        read = step.keep_[read]
    return read.astype(np.intp)


def predict_positive(
    pipeline: Pipeline,
    rows: pd.DataFrame,
    *,
    features: dict[Any, pd.DataFrame] | None = None,
    any_size: bool = False,
) -> pd.Series:
    """P(positive) per KNR of these long test-result rows, through a version's Pipeline.

    `features` is a cache shared across calls: versions trained together carry the same
    fitted feature builder, so their features are built once for all of them. `any_size`:
    see `positive_scores`.
    """
    builder = pipeline.steps[0][1]
    key = getattr(builder, "fingerprint_", None) or id(builder)
    if features is not None and key in features:
        built = features[key]
    else:
        built = builder.transform(rows)
        if features is not None:
            features[key] = built
    return pd.Series(
        _estimator_proba(pipeline.steps[1:], built, any_size=any_size),
        index=built.index,
        name="p",
    )


def positive_scores(
    estimator: Pipeline, features: pd.DataFrame, *, any_size: bool = False
) -> np.ndarray:
    """P(positive) for each row of an already built feature frame, by a fitted estimator.

    The compiled trees and formula serve up to `CompiledTrees.MAX_ROWS` rows, or any number
    with `any_size` (prediction's batches and explanations: the sparse formula reads a
    hundredth of the columns scikit-learn's steps transform, and the trees walked together
    took a fifth of scikit-learn's time on 11,000 rows). Both paths agree to the float's
    precision; training keeps scikit-learn's own path for its scores.
    """
    return _estimator_proba(estimator.steps, features, any_size=any_size)
