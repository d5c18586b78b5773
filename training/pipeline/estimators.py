"""The estimators, and the one door from a fitted version's Pipeline to probabilities.

A version's Pipeline is `ResultFeatures` (long result rows → one row per KNR) followed by the
estimator's own steps; `predict_positive` is how every caller turns rows into probabilities.
"""

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
from sklearn.utils.validation import check_is_fitted

from training.pipeline.binning import GradientBoosting
from training.pipeline.bounds import RobustBounds, bound_columns
from training.pipeline.features import PIVOT_PREFIXES, READING_PREFIX

# Versions stored before linear.py existed name SparseLogistic from here: it stays importable.
from training.pipeline.linear import RelaxedLogistic, SparseLogistic


class InformativeColumns(TransformerMixin, BaseEstimator):
    """Keep the columns that carry information at fit: not all missing, not one constant.

    A test that no vehicle of the fitting period has a value for (one new station's test, a
    test seen only in later data) would otherwise break HistGradientBoosting's binning.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> "InformativeColumns":
        """Remember the columns with at least one value and more than one distinct state."""
        values = np.asarray(X, dtype=np.float64)
        missing = np.isnan(values)
        # fmin/fmax skip NaN; an all-missing column stays NaN and compares False.
        low = np.fmin.reduce(values, axis=0, initial=np.nan)
        high = np.fmax.reduce(values, axis=0, initial=np.nan)
        partly_missing = missing.any(axis=0) & ~missing.all(axis=0)
        self.keep_ = np.flatnonzero((high > low) | partly_missing)
        self.n_features_in_ = values.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """X restricted to the kept columns (a DataFrame stays a DataFrame)."""
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, self.keep_]
        return np.asarray(X)[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The kept columns' names."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names[self.keep_]


class PivotColumns(InformativeColumns):
    """The feature frame's pivot: each test value's latest reading and each test's last NOK
    flag (`PIVOT_PREFIXES`), the view of the plain approach (one column per test value and
    status, one gradient-boosting model with scikit-learn's defaults)."""

    prefixes: tuple[str, ...] = PIVOT_PREFIXES

    def fit(self, X: pd.DataFrame, y: Any = None) -> "PivotColumns":
        """Remember the positions of the pivot's columns."""
        names = np.asarray(X.columns, dtype=object)
        self.keep_ = np.flatnonzero([str(name).startswith(self.prefixes) for name in names])
        if not len(self.keep_):
            raise ValueError(f"no columns named {' or '.join(self.prefixes)}… among the features")
        self.n_features_in_ = len(names)
        self.feature_names_in_ = names
        return self


class ReadingColumns(PivotColumns):
    """Each test value's latest reading alone (`value|…`): the view of `relaxed_logistic`."""

    prefixes = (READING_PREFIX,)


def _logistic_regression(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    return [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        (
            "model",
            LogisticRegression(
                **{"C": 0.1, "max_iter": 2000, "random_state": random_state, **options}
            ),
        ),
    ]


class WithDeviations(TransformerMixin, BaseEstimator):
    """Each standardised column, then its absolute deviation from its mean.

    A measurement too far from its usual value either way (a torque too high or too low)
    then weighs in a linear model as one too far in one direction does.
    """

    def fit(self, X: Any, y: Any = None) -> "WithDeviations":
        """Remember the number of columns (and their names, from a DataFrame)."""
        self.n_features_in_ = np.shape(X)[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """[X, |X|] side by side."""
        values = np.asarray(X, dtype=np.float64)
        return np.hstack([values, np.abs(values)])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input names, then `|name|` for each deviation."""
        check_is_fitted(self, "n_features_in_")
        names = input_features
        if names is None:
            names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray([*names, *(f"|{name}|" for name in names)], dtype=object)


def _sparse_logistic(random_state: int, **options: Any) -> list[tuple[str, Any]]:
    return [
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
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
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("deviations", WithDeviations()),
        ("rescale", StandardScaler()),
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


class AnyFailure(ClassifierMixin, BaseEstimator):
    """The fail model as a weighted mean of a direct fail model and "any fail group fails",
    1 − Π(1 − p_group) over the group models trained beside it.

    A vehicle fails when any of its groups does; the group models see the tests behind each
    group more sharply than one model of all of them, and the direct model still covers the
    groups too rare to have a model. `direct_weight` is the direct model's share of the mean.
    Built from fitted estimators; it is not fitted itself.
    """

    def __init__(
        self, direct: Pipeline, groups: list[Pipeline], direct_weight: float = 0.5
    ) -> None:
        self.direct = direct
        self.groups = groups
        self.direct_weight = direct_weight

    def fit(self, X: pd.DataFrame, y: Any = None) -> "AnyFailure":
        """Not refittable as a whole: each group model needs its own group's labels."""
        raise NotImplementedError("AnyFailure combines fitted models; fit its parts instead.")

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[P(no failure), P(failure)] per row of the feature frame."""
        positive = self.positive_proba(X)
        return np.column_stack([1.0 - positive, positive])

    def positive_proba(self, X: pd.DataFrame, *, any_size: bool = False) -> np.ndarray:
        """P(failure) per row of the feature frame (`any_size`: see `positive_scores`)."""
        return blend_failure(
            positive_scores(self.direct, X, any_size=any_size),
            [positive_scores(g, X, any_size=any_size) for g in self.groups],
            # Versions stored before the weight existed were the plain mean.
            getattr(self, "direct_weight", 0.5),
        )

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where P(failure) is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


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


class CompiledTrees:
    """A fitted binary HistGradientBoostingClassifier's trees as flat arrays.

    scikit-learn predicts tree by tree, with a fixed cost per tree that dominates a
    one-vehicle prediction (hundreds of trees per kind, nine kinds). Walking every tree at once
    with array indexing gives the same probabilities (checked against predict_proba in the
    tests) in a fraction of the time; large batches keep scikit-learn's own path unless the
    caller asks for any size (`positive_scores`). It reads
    the fitted trees' node arrays, which scikit-learn keeps in private attributes: `supports`
    refuses a model whose attributes do not look as expected, and the caller falls back.
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
        """Binary, numeric-only, fitted HistGradientBoostingClassifier with readable trees."""
        predictors = getattr(model, "_predictors", None)
        if not isinstance(model, HistGradientBoostingClassifier) or not predictors:
            return False
        fields = getattr(getattr(predictors[0][0], "nodes", None), "dtype", None)
        needed = {"feature_idx", "num_threshold", "missing_go_to_left", "left", "right",
                  "is_leaf", "value", "is_categorical"}
        return (
            fields is not None
            and needed <= set(fields.names or ())
            and list(model.classes_) == [0, 1]
            and all(len(it) == 1 for it in predictors)
            and not any(p.nodes["is_categorical"].any() for it in predictors for p in it)
        )

    def positive_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of a float array with the model's columns."""
        raw = np.array([self._raw_one(X[0])]) if len(X) == 1 else self._raw_many(X)
        return 1.0 / (1.0 + np.exp(-raw))

    def _raw_one(self, row: np.ndarray) -> float:
        node = self.roots.copy()
        inner = ~self.is_leaf[node]
        while inner.any():
            at = node[inner]
            x = row[self.feature[at]]
            go_left = np.where(np.isnan(x), self.missing_left[at], x <= self.threshold[at])
            node[inner] = np.where(go_left, self.left[at], self.right[at])
            inner = ~self.is_leaf[node]
        return self.baseline + self.value[node].sum()

    # Rows walked together at most: bounds the (rows × trees) arrays of a large batch.
    CHUNK_ROWS = 2048

    def _raw_many(self, X: np.ndarray) -> np.ndarray:
        if len(X) > self.CHUNK_ROWS:
            return np.concatenate([
                self._raw_many(X[begin : begin + self.CHUNK_ROWS])
                for begin in range(0, len(X), self.CHUNK_ROWS)
            ])
        # Every row through every tree at once, following only the paths not yet at a leaf:
        # row by row, each level's fixed cost was paid again for every row an explanation
        # scores (three times as long for eleven rows). One row alone is cheaper as above.
        node = np.tile(self.roots, len(X))
        row = np.repeat(np.arange(len(X)), len(self.roots))
        active = np.flatnonzero(~self.is_leaf[node])
        while len(active):
            at = node[active]
            x = X[row[active], self.feature[at]]
            go_left = np.where(np.isnan(x), self.missing_left[at], x <= self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            active = active[~self.is_leaf[node[active]]]
        # Each row's leaves summed on their own, in tree order, as for one row alone.
        leaves = self.value[node].reshape(len(X), len(self.roots))
        return np.array([self.baseline + values.sum() for values in leaves])


class CompiledLinear:
    """A fitted `sparse_logistic` or `relaxed_logistic` Pipeline as one formula over the
    feature row: (its view,) columns kept, bounded, median imputation (with indicators for the
    sparse model), standardisation, deviations, (the relaxed model's second standardisation,)
    the logistic model. Versions saved before the bounds existed have no bounding step.

    scikit-learn's checks in each of its four transforms cost about 3.6 ms for one vehicle,
    fifty times the compiled trees; the formula gives the same probabilities (checked against
    the Pipeline in the tests). `supports` refuses any other arrangement of steps.
    """

    STEPS = (
        InformativeColumns, RobustBounds, SimpleImputer, StandardScaler, WithDeviations,
        SparseLogistic,
    )
    UNBOUNDED_STEPS = tuple(t for t in STEPS if t is not RobustBounds)
    RELAXED_STEPS = (
        ReadingColumns, InformativeColumns, RobustBounds, SimpleImputer, StandardScaler,
        WithDeviations, StandardScaler, RelaxedLogistic,
    )

    def __init__(self, steps: list[tuple[str, Any]]) -> None:
        parts = [step for _, step in steps]
        view = parts.pop(0) if isinstance(parts[0], ReadingColumns) else None
        self.bounds = parts.pop(1) if isinstance(parts[1], RobustBounds) else None
        rescale = parts.pop(4) if len(parts) == 6 else None
        select, impute, scale, _, model = parts
        self.keep = select.keep_ if view is None else view.keep_[select.keep_]
        self.fill = impute.statistics_
        indicator = impute.indicator_
        self.indicate = (
            np.asarray(indicator.features_, dtype=np.intp)
            if indicator is not None
            else np.empty(0, dtype=np.intp)
        )
        self.mean = scale.mean_ if scale.mean_ is not None else 0.0
        self.scale = scale.scale_ if scale.scale_ is not None else 1.0
        coef, intercept = model.coef_[0], float(model.intercept_[0])
        if rescale is not None:
            # ((w - m) / s) @ c + b is w @ (c / s) + (b - m @ (c / s)): the second
            # standardisation folds into the weights.
            coef = coef / rescale.scale_
            intercept -= float(rescale.mean_ @ coef)
        self.coef = coef
        self.intercept = intercept
        # The L1 penalty leaves a few dozen of thousands of weights: the formula reads only
        # the kept columns behind them (at the plant's width, a hundredth of the frame).
        kept, weights = len(select.keep_), self.coef.reshape(2, -1)
        used = np.flatnonzero(np.abs(weights).sum(axis=0))
        values, flags = used[used < kept], self.indicate[used[used >= kept] - kept]
        self.positions = np.unique(np.concatenate([values, flags])).astype(np.intp)
        self.value_at = np.searchsorted(self.positions, values)
        self.flag_at = np.searchsorted(self.positions, flags)
        self.used_fill = self.fill[values]
        self.used_mean = np.broadcast_to(self.mean, weights.shape[1:])[used]
        self.used_scale = np.broadcast_to(self.scale, weights.shape[1:])[used]
        self.used_coef = np.concatenate([weights[0, used], weights[1, used]])

    @classmethod
    def supports(cls, steps: list[tuple[str, Any]]) -> bool:
        """Exactly these steps (with or without the bounds), the imputer filling medians."""
        types = tuple(type(step) for _, step in steps)
        if types == cls.RELAXED_STEPS:
            impute = steps[3][1]
            return (
                impute.strategy == "median"
                and impute.indicator_ is None
                and list(steps[-1][1].classes_) == [0, 1]
            )
        return (
            types in (cls.STEPS, cls.UNBOUNDED_STEPS)
            and steps[-4][1].strategy == "median"
            and list(steps[-1][1].classes_) == [0, 1]
        )

    def columns_read(self) -> np.ndarray:
        """The feature-frame columns with a weight, directly or through their missing flag."""
        kept = len(self.keep)
        # The formula's weights: [values, flags] standardised, then the same deviations.
        weights = np.abs(self.coef.reshape(2, -1)).sum(axis=0)
        used = np.flatnonzero(weights[:kept])
        flagged = self.indicate[np.flatnonzero(weights[kept:])]
        return np.unique(self.keep[np.concatenate([used, flagged])]).astype(np.intp)

    def positive_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of the feature array (every column of the frame)."""
        # The steps' arithmetic, column for column, on the weighed columns only; terms of
        # weight zero added nothing.
        at = self.positions
        x = X[:, self.keep[at]]
        if self.bounds is not None:
            b = self.bounds
            x = bound_columns(x, b.center_[at], b.spread_[at], b.limit)
        missing = np.isnan(x)
        filled = np.where(missing[:, self.value_at], self.used_fill, x[:, self.value_at])
        z = (np.hstack([filled, missing[:, self.flag_at]]) - self.used_mean) / self.used_scale
        logit = np.hstack([z, np.abs(z)]) @ self.used_coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))


_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_trees(model: Any) -> CompiledTrees | None:
    if model not in _compiled:
        _compiled[model] = CompiledTrees(model) if CompiledTrees.supports(model) else None
    return _compiled[model]


def _compiled_steps(steps: list[tuple[str, Any]]) -> CompiledTrees | CompiledLinear | None:
    """The fast path for these fitted steps: trees after the transforms, or a whole formula."""
    model = steps[-1][1]
    if CompiledLinear.supports(steps):
        if model not in _compiled:
            _compiled[model] = CompiledLinear(steps)
        return _compiled[model]
    return _compiled_trees(model)


def _estimator_proba(
    steps: list[tuple[str, Any]], features: pd.DataFrame, *, any_size: bool = False
) -> np.ndarray:
    """P(class 1) from the fitted estimator steps that follow the feature builder."""
    model = steps[-1][1]
    if isinstance(model, AnyFailure) and len(steps) == 1:
        return model.positive_proba(features, any_size=any_size)
    small = any_size or len(features) <= CompiledTrees.MAX_ROWS
    compiled = _compiled_steps(steps) if small else None
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
        if isinstance(compiled, CompiledLinear):
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
    if isinstance(model, AnyFailure):
        parts = [columns_read(part) for part in combined_parts(model)]
        if len(steps) > 1 or any(part is None for part in parts):
            return None
        return np.unique(np.concatenate(parts)).astype(np.intp)
    if CompiledLinear.supports(steps):
        return _compiled_steps(steps).columns_read()
    if not CompiledTrees.supports(model):
        return None
    compiled = _compiled_trees(model)
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
