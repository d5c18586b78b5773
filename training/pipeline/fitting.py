"""Fitting one kind: each candidate on the older part of the training period, the one whose
scores on its latest part are best, refitted; a candidate that fails is left out, with its error.

Pure functions over DataFrames (no Django); `steps.train_models` calls `fit_kind` per kind.
"""

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from training.pipeline.estimators import positive_scores
from training.pipeline.outcomes import (
    FitFailed,
    checked_scores,
    describe_error,
    require_finite,
)

# Below this many positives in the validation slice its threshold is too noisy; the
# threshold then comes from out-of-fold predictions over the whole training set.
MIN_VALIDATION_POSITIVES = 10


def out_of_fold_proba(
    template: Pipeline, X: pd.DataFrame, y: pd.Series, random_state: int
) -> np.ndarray:
    n_splits = int(min(3, y.sum(), (1 - y).sum()))
    proba = np.zeros(len(y))
    if n_splits < 2:
        return proba
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    for fit_rows, predict_rows in folds.split(X, y):
        model = clone(template).fit(X.iloc[fit_rows], y.iloc[fit_rows])
        proba[predict_rows] = positive_scores(model, X.iloc[predict_rows])
    return proba


def fit_estimator(
    template: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    validation: tuple[pd.DataFrame, pd.Series] | None = None,
) -> Pipeline:
    """Fit a clone of the template; a gradient-boosting model stops early on `validation`."""
    estimator = clone(template)
    prepare = Pipeline(estimator.steps[:-1])
    model = estimator.steps[-1][1]
    X_fit = prepare.fit_transform(X, y)
    stops_early = isinstance(model, HistGradientBoostingClassifier) and model.early_stopping
    if validation is not None and stops_early:
        X_val, y_val = validation
        model.fit(X_fit, y, X_val=prepare.transform(X_val), y_val=y_val)
    else:
        model.fit(X_fit, y)
    return estimator


def fit_kind(
    templates: list[Pipeline],
    labels: list[str],
    X: pd.DataFrame,
    y: pd.Series,
    order: pd.Index,
    params: dict[str, Any],
) -> tuple[Pipeline, pd.Series, np.ndarray, str, int, dict[str, str]]:
    """The kind's fitted estimator, its held-out labels and scores, their source, which
    candidate template won, and the error of each candidate (named by `labels`) that failed.
    `order` is the training KNRs by production time.

    The threshold is chosen on training data only, never on the test set (that would make
    the test metrics meet their target by construction). First choice: fit each candidate on
    the older part of the training period (early stopping on the latest part), keep the one
    whose scores on that latest part are best (`select_by`), which mimics how the
    model meets next month's cars; with `refit`, fit a gradient-boosting winner again on the
    whole period with the iterations it found (other winners stay as fitted: their held-out
    scores, which set the threshold, must be their own). Too few positives in the latest
    part → out-of-fold scores over the whole period for the first candidate, and a final fit
    on all of it.

    A candidate that raises, or whose scores are not finite probabilities, is left out (in
    the out-of-fold case the next one serves); FitFailed when none is left. A failed refit
    leaves the winner as fitted on the older part.
    """
    failures: dict[str, str] = {}
    n_validation = math.ceil(len(order) * float(params["validation_share"]))
    fit_knrs, validation_knrs = order[:-n_validation], order[-n_validation:]
    y_fit, y_validation = y.loc[fit_knrs], y.loc[validation_knrs]
    if (
        n_validation > 0
        and y_validation.sum() >= MIN_VALIDATION_POSITIVES
        and 0 < y_fit.sum() < len(y_fit)
    ):
        X_validation = X.loc[validation_knrs]
        best: tuple[float, int, Pipeline, np.ndarray] | None = None
        for index, template in enumerate(templates):
            try:
                estimator = fit_estimator(
                    template, X.loc[fit_knrs], y_fit, (X_validation, y_validation)
                )
                scores = checked_scores(estimator, X_validation, "held-out scores")
                rank = selection_score(params["select_by"], y_validation, scores)
            except Exception as error:
                failures[labels[index]] = describe_error(error)
                continue
            if best is None or rank > best[0]:
                best = (rank, index, estimator, scores)
        if best is None:
            raise FitFailed(failures)
        _, chosen, estimator, scores = best
        if params["refit"]:
            try:
                estimator = refit(templates[chosen], estimator, X, y)
            except Exception as error:
                # The fit on the older part stands: the held-out scores are its own.
                failures[f"{labels[chosen]} refitted"] = describe_error(error)
        return estimator, y_validation, scores, "validation", chosen, failures
    for index, template in enumerate(templates):
        try:
            scores = out_of_fold_proba(template, X, y, int(params["random_state"]))
            require_finite(scores, "out-of-fold scores")
            return fit_estimator(template, X, y), y, scores, "out_of_fold", index, failures
        except Exception as error:
            failures[labels[index]] = describe_error(error)
    raise FitFailed(failures)


def selection_score(metric: str, y: pd.Series, scores: np.ndarray) -> float:
    """Higher is better: held-out average precision, or minus the held-out log-loss."""
    if metric == "average_precision":
        return float(average_precision_score(y, scores))
    if metric == "log_loss":
        return -float(log_loss(y, scores, labels=[0, 1]))
    raise ValueError(f"unknown select_by {metric!r} (average_precision or log_loss)")


def refit(template: Pipeline, fitted: Pipeline, X: pd.DataFrame, y: pd.Series) -> Pipeline:
    """A gradient-boosting model fitted again on the whole training period, with the
    iteration count early stopping found; any other model as it was fitted.

    The threshold comes from the fitted model's held-out scores. Trees refitted with a fixed
    budget score on the same scale; a sparse logistic model refitted on more rows keeps other
    columns and moves its bulk of scores, and with it the share its threshold flags (group 133
    on generated data: 12% flagged on held-out vehicles, 23% on the next ones).
    """
    model = fitted.steps[-1][1]
    if not isinstance(model, HistGradientBoostingClassifier):
        return fitted
    estimator = clone(template)
    estimator.set_params(**{
        f"{estimator.steps[-1][0]}__max_iter": int(model.n_iter_),
        f"{estimator.steps[-1][0]}__early_stopping": False,
    })
    return fit_estimator(estimator, X, y)
