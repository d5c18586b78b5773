"""What a fitted model shows people: its precision-recall curve, calibration and top features.

Pure functions over arrays (no Django); computed once when a version is registered, so that a
model version's page only reads stored numbers.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve
from threadpoolctl import threadpool_limits

from training.pipeline.bounds import RobustBounds
from training.pipeline.compiled import CompiledTrees, compiled_formula
from training.pipeline.estimators import (
    AnyFailure,
    MeanLogOdds,
    blend_failure,
    columns_read,
    combined_parts,
    mean_log_odds,
    positive_scores,
)
from training.pipeline.transforms import InformativeColumns

CURVE_POINTS = 100
CALIBRATION_BINS = 10
# Kept per version: the drift alarm counts the 50 columns a model relies on most (its page
# shows the first 15).
TOP_FEATURES = 50
# Permutation importance re-scores the sample once per feature: bounded rows keep it to a
# second or two per kind at training time.
PERMUTATION_ROWS = 1000


def describe_scores(y_true: Any, scores: Any, threshold: float) -> dict[str, Any]:
    """The precision-recall curve (at most CURVE_POINTS points), the threshold's point on it,
    and the reliability of the scores (predicted vs observed share of defects, per bin)."""
    y = np.asarray(y_true).astype("int64")
    p = np.asarray(scores, dtype="float64")
    out: dict[str, Any] = {"n": int(len(y)), "positives": int(y.sum())}
    if len(y) == 0 or y.sum() == 0 or y.sum() == len(y):
        return out
    precision, recall, _ = precision_recall_curve(y, p)
    # From low to high recall; at most one point per hundredth of recall keeps the shape.
    precision, recall = precision[::-1], recall[::-1]
    keep = np.unique(np.round(recall * CURVE_POINTS).astype(int), return_index=True)[1]
    out["pr_curve"] = [
        [round(float(recall[i]), 4), round(float(precision[i]), 4)] for i in sorted(keep)
    ]
    flagged = p >= threshold
    true_positives = int((flagged & (y == 1)).sum())
    out["threshold_point"] = [
        round(true_positives / int(y.sum()), 4),
        round(true_positives / int(flagged.sum()), 4) if flagged.any() else 1.0,
    ]
    out["pr_auc"] = float(average_precision_score(y, p))
    observed, predicted = calibration_curve(
        y, p, n_bins=min(CALIBRATION_BINS, len(y)), strategy="quantile"
    )
    out["calibration"] = [
        [round(float(x), 4), round(float(o), 4)] for x, o in zip(predicted, observed, strict=True)
    ]
    return out


def top_features(
    pipeline: Any, features: pd.DataFrame, y_true: Any, *, random_state: int = 0
) -> dict[str, Any]:
    """The most important features: the model's own importances or coefficients if it has
    them, else the drop in PR-AUC when each feature is shuffled (on a bounded sample)."""
    model = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    names = [str(column) for column in features.columns]
    y = np.asarray(y_true).astype("int64")
    # The steps before the model may keep only some columns: name what the model saw.
    seen = _names_seen_by_model(pipeline, names)
    if hasattr(model, "feature_importances_"):
        values, method = np.asarray(model.feature_importances_), "impurity decrease"
        names = seen
    elif hasattr(model, "coef_"):
        # On standardised features, so sizes compare across features.
        values, method = np.abs(np.ravel(model.coef_)), "|coefficient| (standardised)"
        names = seen
    elif 0 < y.sum() < len(y):
        sample = min(len(y), PERMUTATION_ROWS)
        rows = np.random.default_rng(random_state).choice(len(y), size=sample, replace=False)
        values = _permutation_drops(pipeline, features.iloc[rows], y[rows], random_state)
        method = "drop in PR-AUC when shuffled"
    else:
        return {}
    if len(values) != len(names):
        return {}
    order = np.argsort(-values)[:TOP_FEATURES]
    return {
        "method": method,
        "features": [[names[i], round(float(values[i]), 6)] for i in order if values[i] > 0],
    }


def _scoring_parts(pipeline: Any) -> tuple[list[Any], Callable[[list[np.ndarray]], np.ndarray]]:
    """The models whose scores make the pipeline's, and how they are joined: a combined fail
    model is its parts blended, an averaged one its parts' mean log-odds (each part itself
    taken apart, down to models that are scored alone), any other model is itself."""
    steps = pipeline.steps if hasattr(pipeline, "steps") else [("model", pipeline)]
    model = steps[-1][1]
    if len(steps) == 1 and isinstance(model, AnyFailure):
        weight = getattr(model, "direct_weight", 0.5)
        groups = len(model.groups)

        def blend(scores: list[np.ndarray]) -> np.ndarray:
            direct = scores[0] if len(scores) > groups else np.zeros_like(scores[0])
            return blend_failure(direct, scores[-groups:], weight)

        return _joined(combined_parts(model), blend)
    if len(steps) == 1 and isinstance(model, MeanLogOdds):
        return _joined(model.parts, mean_log_odds)
    return [pipeline], lambda scores: scores[0]


def _joined(
    parts: list[Any], join: Callable[[list[np.ndarray]], np.ndarray]
) -> tuple[list[Any], Callable[[list[np.ndarray]], np.ndarray]]:
    """The models that score alone under these parts, and how their scores make the join's:
    each part's own models' scores joined by its own join first."""
    taken = [_scoring_parts(part) for part in parts]
    models = [model for own, _ in taken for model in own]
    ends = np.cumsum([len(own) for own, _ in taken])

    def joined(scores: list[np.ndarray]) -> np.ndarray:
        return join([
            own_join(scores[end - len(own):end])
            for (own, own_join), end in zip(taken, ends, strict=True)
        ])

    return models, joined


def _permutation_drops(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, random_state: int
) -> np.ndarray:
    """Per column, the drop in PR-AUC when that column alone is shuffled (zero elsewhere).

    Only the columns a model reads can matter (a few hundred of thousands at plant scale), and
    a shuffled column changes only the scores of the parts that read it: a combined fail model
    re-scores those parts alone (every part for every column cost 210 s at plant scale).
    """
    rng = np.random.default_rng(random_state)
    parts, join = _scoring_parts(pipeline)
    views = [_View.of(part, X) for part in parts]
    scores = [view.scores() for view in views]
    baseline = average_precision_score(y, join(scores))
    every = np.arange(X.shape[1])
    read = [columns_read(part) for part in parts]
    readers: dict[int, list[int]] = {}
    for index, columns in enumerate(read):
        for j in every if columns is None else columns:
            readers.setdefault(int(j), []).append(index)
    drops = np.zeros(X.shape[1])
    for j in sorted(readers):
        # One order of the rows for the column, whichever parts read it.
        order = rng.permutation(len(X))
        shuffled = list(scores)
        for index in readers[j]:
            shuffled[index] = views[index].shuffled_scores(j, order)
        drops[j] = baseline - average_precision_score(y, join(shuffled))
    return drops


@dataclass
class _View:
    """One part's view of the sample, re-scored with one column's rows in another order.

    Compiled trees after steps that keep or bound columns one by one, and a compiled sparse
    formula, read the sample as one float array, converted once: shuffling a column there is
    shuffling it in the frame. Any other part is scored on the frame through its steps
    (scikit-learn's checks of a frame of thousands of columns cost more than the trees).
    """

    data: np.ndarray | pd.DataFrame
    # For each frame column, its position in `data` (-1: the part drops it).
    where: np.ndarray
    score: Callable[[Any], np.ndarray]

    @classmethod
    def of(cls, part: Any, X: pd.DataFrame) -> "_View":
        steps = part.steps if hasattr(part, "steps") else [("model", part)]
        every = np.arange(X.shape[1])
        formula = compiled_formula(steps)
        if formula is not None:
            data = X.to_numpy(dtype=np.float64, copy=True)
            return cls(data, every, formula.positive_proba)
        model = steps[-1][1]
        column_wise = all(
            isinstance(step, InformativeColumns | RobustBounds) for _, step in steps[:-1]
        )
        if not (column_wise and CompiledTrees.supports(model)):
            return cls(X.copy(), every, lambda data: positive_scores(part, data))
        data: Any = X
        source = every
        for _, step in steps[:-1]:
            data = step.transform(data)
            if isinstance(step, InformativeColumns):
                source = source[step.keep_]
        where = np.full(X.shape[1], -1)
        where[source] = np.arange(len(source))
        data = np.array(data, dtype=np.float64)  # a copy of its own, to shuffle in
        return cls(data, where, CompiledTrees(model).positive_proba)

    def scores(self) -> np.ndarray:
        return self.score(self.data)

    def shuffled_scores(self, column: int, order: np.ndarray) -> np.ndarray:
        at = int(self.where[column])
        if at < 0:
            return self.scores()
        frame = isinstance(self.data, pd.DataFrame)
        kept = self.data.iloc[:, at].to_numpy(copy=True) if frame else self.data[:, at].copy()
        self._put(at, kept[order])
        try:
            return self.scores()
        finally:
            self._put(at, kept)

    def _put(self, at: int, values: np.ndarray) -> None:
        if isinstance(self.data, pd.DataFrame):
            self.data.iloc[:, at] = values
        else:
            self.data[:, at] = values


def _names_seen_by_model(pipeline: Any, names: list[str]) -> list[str]:
    if hasattr(pipeline, "steps") and len(pipeline.steps) > 1:
        try:
            return [str(c) for c in pipeline[:-1].get_feature_names_out(names)]
        except (AttributeError, ValueError):
            pass
    model = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
    return [str(c) for c in getattr(model, "feature_names_in_", names)]


def explain_version(entry: dict[str, Any], test_set: Any, kind: str) -> dict[str, Any]:
    """A trained kind's curves and top features on the test set, stored with its version."""
    if kind in test_set.labels:
        y_test = test_set.labels[kind].astype("int64")
    else:
        y_test = pd.Series(0, index=test_set.knrs)
    scored = entry.get("test_scores") or {}
    # The estimator after the feature builder: the test set's features are already built.
    estimator = entry["pipeline"][1:]
    # One thread: OpenMP threads spinning on a busy host made the ~100 re-scorings of the
    # permutation importance 25× slower (33 s against 1.3 s for 86 features, 60 KNRs).
    with threadpool_limits(limits=1):
        scores = scored.get("scores")
        if scores is None:
            scores = positive_scores(estimator, test_set.features)
        explained = {
            **describe_scores(y_test, scores, entry["threshold"]),
            "importance": top_features(estimator, test_set.features, y_test),
        }
    if entry.get("estimator"):
        explained["estimator"] = entry["estimator"]
    if entry.get("combined_with"):
        explained["combined_with"] = entry["combined_with"]
        explained["direct_weight"] = entry["direct_weight"]
    return explained
