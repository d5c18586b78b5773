"""Decision thresholds from scores: the policies, the metrics at a threshold, compact storage.

Pure functions over arrays (no Django): a vehicle is flagged when its score is at least the
threshold.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

F2 = "f2"
CAPACITY = "capacity"
RECALL = "recall"
POLICIES = (F2, CAPACITY, RECALL)
# F-beta with beta = 2 weighs recall four times as much as precision: a missed defect costs
# far more than an extra inspection, but not without bound.
F_BETA = 2.0
# ...and bounded: the F2 policy flags at most the share whose odds are this many times the
# held-out prevalence's (about twice the prevalence for a rare group; 68% of the vehicles for
# the fail model when half of them fail, where F2 alone flags nearly all), or this share of
# vehicles, whichever is larger, so that a weak model cannot put every vehicle on the list.
# Twice, not three times: a later month's prevalence is often lower than the held-out part's
# (on generated data by up to a third), and the list should stay within three times it.
F2_MAX_TIMES_PREVALENCE = 2.0
F2_MIN_SHARE_CAP = 0.10


def _arrays(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {len(y)} values but scores has {len(s)}.")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers.")
    return y, s


def validate_policy(policy: str, value: float | None) -> float | None:
    """The policy's value, checked: none for f2, a share in (0, 1] for capacity and recall."""
    if policy not in POLICIES:
        raise ValueError(f"Unknown threshold policy {policy!r}; use one of {', '.join(POLICIES)}.")
    if policy == F2:
        if value is not None:
            raise ValueError("The f2 policy takes no value.")
        return None
    if value is None or not 0.0 < float(value) <= 1.0:
        what = "share of vehicles to inspect" if policy == CAPACITY else "recall to reach"
        raise ValueError(f"The {policy} policy needs a value in (0, 1]: the {what}.")
    return float(value)


def describe_policy(policy: str, value: float | None) -> str:
    """The policy in words, as shown beside a threshold."""
    if policy == CAPACITY:
        return f"inspection capacity {value:.1%} of vehicles"
    if policy == RECALL:
        return f"recall target {value:.1%}"
    return (
        f"F2 maximised (recall weighed 4× precision), flagging at most about "
        f"{F2_MAX_TIMES_PREVALENCE:g}× the prevalence (on the odds scale) or {F2_MIN_SHARE_CAP:.0%}"
    )


def share_at_odds(share: float, times: float) -> float:
    """The share whose odds are `times` those of `share` (about `times` × a small share)."""
    if share >= 1.0:
        return 1.0
    odds = times * share / (1.0 - share)
    return odds / (1.0 + odds)


def _flag_nothing(scores: np.ndarray) -> float:
    # Just above the highest score: no vehicle of these scores is flagged.
    top = float(scores.max()) if len(scores) else 1.0
    return float(np.nextafter(max(top, 1.0), np.inf))


def _candidates(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores, highest first, with the positives and vehicles flagged at each."""
    order = np.argsort(-s, kind="stable")
    sorted_scores, sorted_y = s[order], y[order]
    # The last index of each run of equal scores: flagging at that score takes the whole run.
    last = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), len(sorted_scores) - 1]
    true_positives = np.cumsum(sorted_y)[last]
    flagged = last + 1
    return sorted_scores[last], true_positives, flagged


def choose_threshold(
    y_true: Any, scores: Any, *, policy: str = F2, value: float | None = None
) -> float:
    """The threshold a policy picks on held-out scores (flagged: score ≥ threshold)."""
    value = validate_policy(policy, value)
    y, s = _arrays(y_true, scores)
    if len(s) == 0:
        return 0.5
    thresholds, true_positives, flagged = _candidates(y, s)
    positives = int(y.sum())
    if policy == CAPACITY:
        # The lowest threshold that flags no more than the share the team can inspect.
        allowed = math.floor(value * len(s) + 1e-9)
        fits = np.flatnonzero(flagged <= allowed)
        return float(thresholds[fits[-1]]) if len(fits) else _flag_nothing(s)
    if positives == 0:
        return _flag_nothing(s)
    recall = true_positives / positives
    if policy == RECALL:
        # The highest threshold whose recall reaches the target (ties only raise recall).
        reached = np.flatnonzero(recall >= value - 1e-12)
        return float(thresholds[reached[0]])
    precision = true_positives / flagged
    beta2 = F_BETA**2
    with np.errstate(divide="ignore", invalid="ignore"):
        f_beta = (1 + beta2) * precision * recall / (beta2 * precision + recall)
    f_beta = np.nan_to_num(f_beta, nan=0.0)
    cap = max(share_at_odds(positives / len(s), F2_MAX_TIMES_PREVALENCE), F2_MIN_SHARE_CAP)
    within = flagged <= math.floor(cap * len(s) + 1e-9)
    if not within.any():
        return _flag_nothing(s)
    # argmax takes the first maximum: the highest threshold, i.e. the shortest list.
    return float(thresholds[int(np.argmax(np.where(within, f_beta, -1.0)))])


def metrics_at_threshold(y_true: Any, scores: Any, threshold: float) -> dict[str, Any]:
    """Precision, recall, F1, MCC, accuracy, confusion matrix and flagged share at a threshold."""
    y, s = _arrays(y_true, scores)
    flagged = s >= threshold
    positive = y == 1
    tp = int((flagged & positive).sum())
    fp = int((flagged & ~positive).sum())
    fn = int((~flagged & positive).sum())
    tn = int((~flagged & ~positive).sum())
    n = len(y)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / denominator if denominator else 0.0
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1_score": f1,
        "mcc": mcc,
        "accuracy": (tp + tn) / n if n else 0.0,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "flagged_share": (tp + fp) / n if n else 0.0,
        "support": {"positives": tp + fn, "negatives": tn + fp},
    }


# --- compact storage --------------------------------------------------------------------------
# Tens of thousands of float64 scores as base64 (about 11 bytes each) rather than JSON numbers;
# the labels packed eight to a byte. Exact: the threshold is compared with the same floats.


def encode_scores(y_true: Any, scores: Any) -> dict[str, Any]:
    """Labels and scores as a small JSON-safe dict."""
    y, s = _arrays(y_true, scores)
    return {
        "n": len(y),
        "y_true": base64.b64encode(np.packbits(y.astype(bool)).tobytes()).decode("ascii"),
        "scores": base64.b64encode(s.astype("<f8").tobytes()).decode("ascii"),
    }


def decode_scores(encoded: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, scores) from `encode_scores`."""
    n = int(encoded["n"])
    packed = np.frombuffer(base64.b64decode(encoded["y_true"]), dtype=np.uint8)
    y = np.unpackbits(packed, count=n).astype(np.int64)
    s = np.frombuffer(base64.b64decode(encoded["scores"]), dtype="<f8").astype(np.float64)
    if len(s) != n:
        raise ValueError(f"Stored scores hold {len(s)} values, expected {n}.")
    return y, s
