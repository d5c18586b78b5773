"""The compiled paths: a fitted version's trees as flat arrays and its logistic Pipelines as one
formula, which give scikit-learn's probabilities without its per-call checks (plain numpy).
"""

import weakref
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from training.pipeline.bounds import RobustBounds, bound_columns
from training.pipeline.linear import RelaxedLogistic, SparseLogistic
from training.pipeline.pairs import PairTerms, pair_products
from training.pipeline.transforms import InformativeColumns, ReadingColumns, WithDeviations


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


def step_types(steps: list[tuple[str, Any]]) -> tuple[type, ...]:
    """The steps' types as the compiled formulas know them: any median imputer (versions
    saved before the faster one hold scikit-learn's own) and any view of readings (the
    screened one too) count as their base class."""
    return tuple(
        SimpleImputer if isinstance(step, SimpleImputer)
        else ReadingColumns if isinstance(step, ReadingColumns)
        else type(step)
        for _, step in steps
    )


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
        types = step_types(steps)
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


class CompiledPairs:
    """A fitted `pairwise_logistic` Pipeline as one formula over the feature row: readings kept,
    bounded, median imputation, standardisation, the terms (cut, products, standardised again
    and weighed: folded into the weights), the logistic model.

    Like CompiledLinear, it reads only the columns behind a weighed term (through a product,
    both of its columns) and gives the Pipeline's probabilities (checked in the tests).
    """

    STEPS = (
        ReadingColumns, InformativeColumns, RobustBounds, SimpleImputer, StandardScaler,
        PairTerms, RelaxedLogistic,
    )

    def __init__(self, steps: list[tuple[str, Any]]) -> None:
        view, select, self.bounds, impute, scale, terms, model = (step for _, step in steps)
        p = len(select.keep_)
        # ((t - m) / s · w) @ c + b is t @ (c · w / s) + (b - m @ (c · w / s)).
        coef = model.coef_[0] * terms.weight_ / terms.scale_
        self.intercept = float(model.intercept_[0]) - float(terms.mean_ @ coef)
        main, deviation = np.flatnonzero(coef[:p]), np.flatnonzero(coef[p:2 * p])
        product = np.flatnonzero(coef[2 * p:])
        left, right = terms.left_[product], terms.right_[product]
        self.positions = np.unique(np.concatenate([main, deviation, left, right])).astype(np.intp)
        self.keep = view.keep_[select.keep_]
        at = self.positions
        self.center, self.spread = self.bounds.center_[at], self.bounds.spread_[at]
        self.fill = impute.statistics_[at]
        self.mean = scale.mean_[at]
        self.scale = scale.scale_[at]
        self.limit = terms.limit
        self.main_at, self.main_coef = np.searchsorted(at, main), coef[main]
        self.deviation_at, self.deviation_coef = np.searchsorted(at, deviation), coef[p + deviation]
        self.left_at, self.right_at = np.searchsorted(at, left), np.searchsorted(at, right)
        self.left_absolute = terms.left_absolute_[product]
        self.product_coef = coef[2 * p + product]

    @classmethod
    def supports(cls, steps: list[tuple[str, Any]]) -> bool:
        """Exactly these steps, the imputer filling medians."""
        types = step_types(steps)
        return (
            types == cls.STEPS
            and steps[3][1].strategy == "median"
            and list(steps[-1][1].classes_) == [0, 1]
        )

    def columns_read(self) -> np.ndarray:
        """The feature-frame columns behind a weighed term."""
        return np.unique(self.keep[self.positions]).astype(np.intp)

    def positive_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of the feature array (every column of the frame)."""
        x = bound_columns(X[:, self.keep[self.positions]], self.center, self.spread,
                          self.bounds.limit)
        x = np.where(np.isnan(x), self.fill, x)
        z = np.clip((x - self.mean) / self.scale, -self.limit, self.limit)
        logit = (
            z[:, self.main_at] @ self.main_coef
            + np.abs(z[:, self.deviation_at]) @ self.deviation_coef
            + pair_products(z, self.left_at, self.right_at, self.left_absolute)
            @ self.product_coef
            + self.intercept
        )
        return 1.0 / (1.0 + np.exp(-logit))


def compiled_formula(steps: list[tuple[str, Any]]) -> CompiledLinear | CompiledPairs | None:
    """The compiled formula of a logistic Pipeline of these steps, if one serves them."""
    for formula in (CompiledLinear, CompiledPairs):
        if formula.supports(steps):
            model = steps[-1][1]
            if model not in _compiled:
                _compiled[model] = formula(steps)
            return _compiled[model]
    return None


_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_trees(model: Any) -> CompiledTrees | None:
    if model not in _compiled:
        _compiled[model] = CompiledTrees(model) if CompiledTrees.supports(model) else None
    return _compiled[model]


def compiled_steps(
    steps: list[tuple[str, Any]],
) -> CompiledTrees | CompiledLinear | CompiledPairs | None:
    """The fast path for these fitted steps: trees after the transforms, or a whole formula."""
    formula = compiled_formula(steps)
    return formula if formula is not None else compiled_trees(steps[-1][1])
