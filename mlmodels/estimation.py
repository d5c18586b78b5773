"""Estimated performance before the defects arrive: NannyML's confidence-based estimation.

Plain Python over arrays (no Django). At training time a version's labelled held-out or test
scores give the reference (`build_performance_reference`): an isotonic calibration of its
scores (when it helps, tested as NannyML does), and per reference month the realised
precision, recall and flagged share at the version's threshold, whose mean ± 3 standard
deviations is the band. For a production month without labels (`estimate_month`), each
vehicle's calibrated probability p̂ and its flag ŷ (score ≥ threshold) count as right with
probability 1 − |ŷ − p̂|, summed into an expected confusion matrix; precision and recall come
from it, the flagged share is exact. An estimate outside its band raises a performance alarm.

What it cannot see (NannyML's limitations): a change in how often vehicles fail that the
scores do not reflect (concept drift, or a label shift the features carry no trace of) leaves
the estimate where it was; and it is only as good as the calibration on the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from mlmodels.thresholds import metrics_at_threshold

FORMAT = 1
METRICS = ("precision", "recall", "flagged_share")
BAND_SIGMAS = 3.0
# A month with fewer vehicles is not judged (the drift check's minimum, NannyML's chunk size).
MIN_VEHICLES = 500
# Reference months need this many vehicles to set the band; with fewer than MIN_CHUNKS such
# months the reference is cut into DEFAULT_CHUNKS equal parts in its order (NannyML's default).
MIN_CHUNK_VEHICLES = 100
MIN_CHUNKS = 3
DEFAULT_CHUNKS = 10
# NannyML's test of whether calibrating helps: 10 stratified splits, 10% held out each time,
# expected calibration error over 10 equal-count bins.
CALIBRATION_SPLITS = 10
CALIBRATION_BINS = 10

TOO_FEW = "too_few"
NO_ALARM = "no_alarm"
ALARM = "alarm"


def build_performance_reference(
    y_true: Sequence[int],
    scores: Sequence[float],
    threshold: float,
    months: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The calibration and the band of a version, from its labelled reference scores (in
    production order when `months` is not given). JSON-safe."""
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"y_true has {len(y)} values but scores has {len(s)}")
    if not len(s) or not np.isfinite(s).all():
        raise ValueError("the reference needs finite scores")
    calibrator = fit_calibration(y, s) if needs_calibration(y, s) else None
    chunks = [
        {"label": label, "vehicles": int(len(rows)), **realised(y[rows], s[rows], threshold)}
        for label, rows in _chunks(len(s), months)
    ]
    band = {}
    for metric in METRICS:
        values = np.array([c[metric] for c in chunks if c[metric] is not None], dtype=np.float64)
        if not len(values):
            band[metric] = None
            continue
        mean, std = float(values.mean()), float(values.std())
        band[metric] = {
            "mean": mean,
            "std": std,
            "lower": max(0.0, mean - BAND_SIGMAS * std),
            "upper": min(1.0, mean + BAND_SIGMAS * std),
        }
    warnings = []
    if len(chunks) < 6:
        warnings.append(
            f"The band comes from {len(chunks)} reference chunks; NannyML asks for 6 at least."
        )
    return {
        "format": FORMAT,
        "threshold": float(threshold),
        "vehicles": int(len(s)),
        "positives": int(y.sum()),
        "calibration": calibrator,
        "chunks": chunks,
        "band": band,
        "warnings": warnings,
    }


def realised(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Precision (None when nothing is flagged), recall (None without positives) and the
    flagged share at the threshold, from labels."""
    at = metrics_at_threshold(y_true, scores, threshold)
    (_tn, fp), (fn, tp) = at["confusion_matrix"]
    return {
        "precision": at["precision"] if tp + fp else None,
        "recall": at["recall"] if tp + fn else None,
        "flagged_share": at["flagged_share"],
    }


def estimate_month(
    scores: Sequence[float], reference: dict[str, Any], *, min_vehicles: int = MIN_VEHICLES
) -> dict[str, Any]:
    """A month's estimated precision and recall and its flagged share, from scores alone,
    each checked against the reference's band (not judged under `min_vehicles` vehicles)."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    flagged = s >= reference["threshold"]
    p = calibrate(s, reference)
    # Each vehicle is right with probability 1 − |ŷ − p̂|, summed per cell of the matrix.
    tp = float(p[flagged].sum())
    fp = float((1 - p[flagged]).sum())
    fn = float(p[~flagged].sum())
    tn = float((1 - p[~flagged]).sum())
    estimate = {
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
        "recall": tp / (tp + fn) if tp + fn > 0 else None,
        "flagged_share": float(flagged.mean()) if len(s) else None,
    }
    counts = {"precision": tp + fp, "recall": tp + fn, "flagged_share": float(len(s))}
    band = {metric: month_band(reference["band"].get(metric), counts[metric])
            for metric in METRICS}
    outside = [
        metric
        for metric, value in estimate.items()
        if value is not None
        and band[metric] is not None
        and not band[metric]["lower"] <= value <= band[metric]["upper"]
    ]
    status = TOO_FEW if len(s) < min_vehicles else ALARM if outside else NO_ALARM
    return {
        "status": status,
        "alarm": status == ALARM,
        "vehicles": int(len(s)),
        "estimate": estimate,
        "expected_confusion_matrix": [[tn, fp], [fn, tp]],
        "outside_band": outside,
        "band": band,
    }


def month_band(band: dict[str, float] | None, count: float) -> dict[str, float] | None:
    """The reference's band for a month whose metric is a share of `count` vehicles (flagged
    ones for precision, expected positives for recall, all for the flagged share): mean ±
    BAND_SIGMAS × √(sd² + m(1 − m)/count). The reference months' spread alone is too narrow
    for rare kinds: a few reference months can agree by chance, while a month with 30
    positives has a recall uncertain by ±0.09 (one sd) from its counts alone."""
    if band is None:
        return None
    mean = band["mean"]
    sampling = mean * (1 - mean) / count if count > 0 else 0.0
    spread = BAND_SIGMAS * (band["std"] ** 2 + sampling) ** 0.5
    return {**band, "count": float(count),
            "lower": max(0.0, mean - spread), "upper": min(1.0, mean + spread)}


def compare_with_realised(
    estimate: dict[str, Any], y_true: Sequence[int], scores: Sequence[float], threshold: float
) -> dict[str, Any]:
    """Once a month's labelling window closes: its realised metrics beside the estimate, and
    the difference (realised − estimated) kept for each."""
    actual = realised(np.asarray(y_true), np.asarray(scores, dtype=np.float64), threshold)
    guessed = estimate["estimate"]
    return {
        "realised": actual,
        "difference": {
            metric: None
            if actual[metric] is None or guessed.get(metric) is None
            else actual[metric] - guessed[metric]
            for metric in METRICS
        },
    }


# --- calibration -------------------------------------------------------------------------------


def fit_calibration(y_true: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """An isotonic calibration as its breakpoints (JSON-safe; `calibrate` interpolates)."""
    regression = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(scores, y_true)
    return {
        "x": regression.X_thresholds_.tolist(),
        "y": regression.y_thresholds_.tolist(),
    }


def calibrate(scores: np.ndarray, reference: dict[str, Any]) -> np.ndarray:
    """Calibrated probabilities: the stored isotonic fit (clipped at its ends, as fitted), or
    the scores themselves when calibrating did not help on the reference."""
    calibration = reference.get("calibration")
    if not calibration:
        return np.clip(scores, 0.0, 1.0)
    return np.interp(scores, calibration["x"], calibration["y"])


def needs_calibration(y_true: np.ndarray, scores: np.ndarray) -> bool:
    """Whether isotonic calibration lowers the expected calibration error on held-out splits
    of the reference (NannyML's `needs_calibration`)."""
    if len(np.unique(y_true)) < 2 or np.bincount(y_true).min() < 2:
        return False
    if roc_auc_score(y_true, scores) > 0.999:
        return False
    splits = StratifiedShuffleSplit(n_splits=CALIBRATION_SPLITS, test_size=0.1, random_state=42)
    truth, raw, calibrated = [], [], []
    for train, test in splits.split(scores, y_true):
        regression = IsotonicRegression(out_of_bounds="clip", increasing=True)
        regression.fit(scores[train], y_true[train])
        truth.append(y_true[test])
        raw.append(scores[test])
        calibrated.append(regression.predict(scores[test]))
    y, before, after = np.concatenate(truth), np.concatenate(raw), np.concatenate(calibrated)
    return expected_calibration_error(y, before) > expected_calibration_error(y, after)


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Σ (bin share × |mean probability − positive rate|) over equal-count bins."""
    order = np.argsort(probabilities, kind="stable")
    y, p = y_true[order], probabilities[order]
    bins = np.array_split(np.arange(len(p)), min(CALIBRATION_BINS, max(len(p) // 2, 1)))
    return float(sum(len(b) / len(p) * abs(p[b].mean() - y[b].mean()) for b in bins if len(b)))


def _chunks(n: int, months: Sequence[str] | None) -> list[tuple[str, np.ndarray]]:
    """Reference months with MIN_CHUNK_VEHICLES vehicles or more, when MIN_CHUNKS of them;
    else DEFAULT_CHUNKS equal parts in order."""
    if months is not None:
        labels = np.asarray(months, dtype=object).astype(str)
        if len(labels) != n:
            raise ValueError(f"months has {len(labels)} values for {n} scores")
        found = [
            (str(month), np.flatnonzero(labels == month)) for month in sorted(set(labels.tolist()))
        ]
        kept = [(m, rows) for m, rows in found if len(rows) >= MIN_CHUNK_VEHICLES]
        if len(kept) >= MIN_CHUNKS:
            return kept
    parts = np.array_split(np.arange(n), min(DEFAULT_CHUNKS, n))
    return [(f"part {i + 1}", rows) for i, rows in enumerate(parts) if len(rows)]
