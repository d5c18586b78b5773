"""What a fitted model shows people: its precision-recall curve, calibration and top features.

Pure functions over arrays (no Django); computed once when a version is registered, so that a
model version's page only reads stored numbers.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve
from threadpoolctl import threadpool_limits

from training.pipeline.estimators import (
    AnyFailure,
    blend_failure,
    columns_read,
    combined_parts,
    positive_scores,
)

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
    model is its parts blended, any other model is itself."""
    steps = pipeline.steps if hasattr(pipeline, "steps") else [("model", pipeline)]
    model = steps[-1][1]
    if len(steps) == 1 and isinstance(model, AnyFailure):
        parts = combined_parts(model)
        weight = getattr(model, "direct_weight", 0.5)
        groups = len(model.groups)

        def blend(scores: list[np.ndarray]) -> np.ndarray:
            direct = scores[0] if len(scores) > groups else np.zeros_like(scores[0])
            return blend_failure(direct, scores[-groups:], weight)

        return parts, blend
    return [pipeline], lambda scores: scores[0]


def _permutation_drops(
    pipeline: Any, X: pd.DataFrame, y: np.ndarray, random_state: int
) -> np.ndarray:
    """Per column, the drop in PR-AUC when that column alone is shuffled (zero elsewhere).

    Only the columns a model reads can matter (a few hundred of thousands at plant scale), and
    a shuffled column changes only the scores of the parts that read it: a combined fail model
    re-scores those parts alone (every part for every column cost 210 s at plant scale).
    """
    rng = np.random.default_rng(random_state)
    X = X.copy()
    parts, join = _scoring_parts(pipeline)
    scores = [positive_scores(part, X) for part in parts]
    baseline = average_precision_score(y, join(scores))
    every = np.arange(X.shape[1])
    read = [columns_read(part) for part in parts]
    readers: dict[int, list[int]] = {}
    for index, columns in enumerate(read):
        for j in every if columns is None else columns:
            readers.setdefault(int(j), []).append(index)
    drops = np.zeros(X.shape[1])
    for j in sorted(readers):
        kept = X.iloc[:, j].to_numpy(copy=True)
        X.iloc[:, j] = rng.permutation(kept)
        shuffled = list(scores)
        for index in readers[j]:
            shuffled[index] = positive_scores(parts[index], X)
        drops[j] = baseline - average_precision_score(y, join(shuffled))
        X.iloc[:, j] = kept
    return drops


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
