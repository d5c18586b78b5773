"""Realised metrics: what the predictions were worth, over the vehicles whose labelling window
has closed (a defect recorded, or none within the window: defect-free)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.utils import timezone
from sklearn.metrics import average_precision_score

from crossline.domain import FAIL_KIND, fail_group_of
from predictions.capacity import get_window_closed_before
from predictions.selectors import BY_PRODUCTION, date_field, statistics_rows


@dataclass(frozen=True)
class Sample:
    """One prediction as one version's case: its kind and name, month, truth, decision, score."""

    kind: str
    name: str
    moment: datetime | None
    truth: int
    flagged: int
    score: float


def _metrics(samples: list[Sample], still_open: int) -> dict[str, Any]:
    y = np.asarray([s.truth for s in samples], dtype=np.int64)
    flagged = np.asarray([s.flagged for s in samples], dtype=np.int64)
    tp = int(((y == 1) & (flagged == 1)).sum())
    fp = int(((y == 0) & (flagged == 1)).sum())
    fn = int(((y == 1) & (flagged == 0)).sum())
    positives = int(y.sum())
    scores = [s.score for s in samples]
    return {
        "n": len(y),
        "positives": positives,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        # Undefined without a positive and a negative: None rather than a misleading number.
        "pr_auc": float(average_precision_score(y, scores)) if 0 < positives < len(y) else None,
        "open": still_open,
    }


def _samples(by: str, now: datetime | None) -> tuple[list[Sample], list[Sample]]:
    """(closed, open): one sample per prediction and version that made it.

    The fail version's decision is the vehicle's flag (on the list), so that its realised
    precision is the share of flagged vehicles with a defect; a group version's is whether the
    list named its group for the vehicle.
    """
    closed_before = get_window_closed_before(now=now)
    closed: list[Sample] = []
    still_open: list[Sample] = []
    rows = statistics_rows().values_list(
        date_field(by), "produced_at", "p_fail", "predicted_fail", "probabilities",
        "predicted_fail_codes", "real_fail_codes", "model_versions",
    )
    for moment, produced, p_fail, flagged, probabilities, codes, real, versions in rows:
        is_closed = produced is not None and produced <= closed_before
        real_codes = {int(c) for c in real or []}
        listed = {int(c) for c in codes or []}
        for kind, name in (versions or {}).items():
            if kind == FAIL_KIND:
                if p_fail is None:
                    continue
                sample = Sample(kind, name, moment, int(bool(real_codes)), int(flagged), p_fail)
            elif (code := fail_group_of(kind)) is not None:
                score = (probabilities or {}).get(str(code))
                if score is None:
                    continue
                sample = Sample(
                    kind, name, moment, int(code in real_codes), int(code in listed), float(score)
                )
            else:
                continue
            (closed if is_closed else still_open).append(sample)
    return closed, still_open


def get_realised_metrics_by_version(*, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Model name → realised precision, recall and PR-AUC over the vehicles whose window
    closed, and how many it predicted are still open."""
    closed, still_open = _samples(BY_PRODUCTION, now)
    grouped: dict[str, list[Sample]] = defaultdict(list)
    waiting: dict[str, int] = defaultdict(int)
    kinds: dict[str, str] = {}
    for sample in closed:
        grouped[sample.name].append(sample)
        kinds[sample.name] = sample.kind
    for sample in still_open:
        waiting[sample.name] += 1
        kinds[sample.name] = sample.kind
    return {
        name: {"type_model": kinds[name], **_metrics(grouped[name], waiting[name])}
        for name in sorted(kinds)
    }


def get_realised_metrics_by_month(
    *, by: str = BY_PRODUCTION, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per month (of the vehicle's production, or of the prediction) and model kind: realised
    precision, recall and PR-AUC over closed windows, and how many are still open."""
    closed, still_open = _samples(by, now)
    grouped: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    waiting: dict[tuple[str, str], int] = defaultdict(int)
    for samples, is_open in ((closed, False), (still_open, True)):
        for sample in samples:
            if sample.moment is None:
                continue  # Predicted before production times were kept: no month to count.
            key = (f"{timezone.localtime(sample.moment):%Y-%m}", sample.kind)
            if is_open:
                waiting[key] += 1
            else:
                grouped[key].append(sample)
    return [
        {"month": month, "type_model": kind, **_metrics(grouped[(month, kind)],
                                                       waiting[(month, kind)])}
        for month, kind in sorted(set(grouped) | set(waiting))
    ]
