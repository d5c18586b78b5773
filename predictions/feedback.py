"""Feedback: what the vehicles really had, from imported defects or the feedback window."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from plant.selectors import get_fail_groups
from predictions.models import Prediction
from predictions.services import PREDICT_BATCH


def record_feedback(*, knrs: list[str]) -> int:
    """Fill `real_fail_codes` of these KNRs' predictions from their recorded defects."""
    knrs = list(dict.fromkeys(knrs))
    now = timezone.now()
    updated = 0
    for begin in range(0, len(knrs), PREDICT_BATCH):
        groups = get_fail_groups(knrs[begin : begin + PREDICT_BATCH])
        by_codes: dict[tuple[int, ...], list[str]] = {}
        for knr, codes in groups.items():
            by_codes.setdefault(tuple(sorted(set(codes))), []).append(knr)
        # One update per distinct set of groups: a handful of writes for thousands of KNRs.
        for codes, same in by_codes.items():
            updated += Prediction.objects.filter(knr__in=same).update(
                real_fail_codes=list(codes), feedback_at=now
            )
    close_feedback_window()
    return updated


def close_feedback_window(*, now: datetime | None = None) -> int:
    """Record `[]` for predictions older than the feedback window that got no defect."""
    days = settings.CROSSLINE_FEEDBACK_WINDOW_DAYS
    if days <= 0:
        return 0
    now = now or timezone.now()
    return Prediction.objects.filter(
        real_fail_codes__isnull=True, created_at__lt=now - timedelta(days=days)
    ).update(real_fail_codes=[], feedback_at=now)
