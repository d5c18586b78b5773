"""The evidence a version is judged on: its test-set metrics at a threshold, and the vehicles
judged out of time across the folds, beside the plain approach's.

Pure functions over arrays (no Django).
"""

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)


def expected_calibration_error(y_true: Any, proba: Any, bins: int = 10) -> float:
    """ECE: the share-weighted gap between mean probability and positive rate, in 10 bins."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    positives = np.bincount(which, weights=y, minlength=bins)
    gaps = np.abs(positives - np.bincount(which, weights=p, minlength=bins))
    return float(gaps.sum() / counts.sum())


def score_predictions(y_test: Any, proba: Any, threshold: float) -> dict[str, Any]:
    """Test metrics of positive-class probabilities at a threshold (proba ≥ threshold)."""
    y = np.asarray(y_test).astype("int64")
    proba = np.asarray(proba, dtype=np.float64)
    predicted = (proba >= threshold).astype("int64")
    both_classes = 0 < y.sum() < len(y)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1_score": float(f1_score(y, predicted, zero_division=0)),
        # Undefined with one class in the test set: None rather than a misleading number.
        "roc_auc": float(roc_auc_score(y, proba)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, proba)) if y.sum() > 0 else None,
        "mcc": float(matthews_corrcoef(y, predicted)),
        "brier": float(brier_score_loss(y, proba, labels=[0, 1])) if len(y) else None,
        "ece": expected_calibration_error(y, proba),
        "flagged_share": float(predicted.mean()) if len(y) else 0.0,
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "support": {"positives": int(y.sum()), "negatives": int(len(y) - y.sum())},
        "threshold": float(threshold),
    }


def pr_auc(y_true: Any, scores: Any) -> float | None:
    """Average precision, or None without scores or without a positive."""
    if scores is None:
        return None
    y = np.asarray(y_true).astype("int64")
    return float(average_precision_score(y, scores)) if y.sum() > 0 else None


def judged_evidence(
    entry: dict[str, Any], y_test: Any, scores: Any, plain: Any = None
) -> dict[str, Any]:
    """Every vehicle a version was judged on out of time: the blocks of the training period,
    each scored by a fit on the vehicles before it (when its held-out scores come from
    them), then the test set scored by the version; with the PR-AUC of the version's scores
    and of the plain approach's over all of them (None where the plain one is missing)."""
    y, judged, beside = [np.asarray(y_test)], [np.asarray(scores)], [plain]
    folds = 1
    plain_heldout = (entry.get("plain") or {}).get("scores")
    if entry.get("threshold_source") == "folds":
        folds += int(entry.get("folds") or 0)
        heldout = entry["heldout"]
        y.insert(0, np.asarray(heldout["y_true"]))
        judged.insert(0, np.asarray(heldout["scores"]))
        beside.insert(0, plain_heldout)
    labels = np.concatenate(y).astype("int64")
    plain_scores = None if any(p is None for p in beside) else np.concatenate(beside)
    return {
        "folds": folds,
        "vehicles": int(len(labels)),
        "positives": int(labels.sum()),
        "pr_auc": pr_auc(labels, np.concatenate(judged)),
        "plain_pr_auc": pr_auc(labels, plain_scores),
    }
