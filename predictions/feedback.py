"""Feedback: what the vehicles really had, from the defects recorded for them and the
labelling window (no defect recorded within it: defect-free from then on)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from plant.selectors import get_fail_groups
from predictions.models import Prediction

# KNRs read and written together: bounds one `IN` query.
FEEDBACK_BATCH = 1000

DEFECT = "defect"
NO_DEFECT = "no_defect"
WAITING = "waiting"
STATES = (DEFECT, NO_DEFECT, WAITING)


def recorded_fail_groups(knrs: list[str]) -> dict[str, list[int]]:
    """KNR → the fail groups of its recorded defects, for the KNRs among `knrs` with any."""
    found: dict[str, list[int]] = {}
    for begin in range(0, len(knrs), FEEDBACK_BATCH):
        for knr, codes in get_fail_groups(knrs[begin : begin + FEEDBACK_BATCH]).items():
            if codes:
                found[knr] = sorted(set(codes))
    return found


def record_feedback(*, knrs: list[str]) -> int:
    """Fill `real_fail_codes` of these KNRs' predictions from their recorded defects (a
    prediction made later gets them when it is stored)."""
    knrs = list(dict.fromkeys(knrs))
    now = timezone.now()
    by_codes: dict[tuple[int, ...], list[str]] = {}
    for knr, codes in recorded_fail_groups(knrs).items():
        by_codes.setdefault(tuple(codes), []).append(knr)
    updated = 0
    # One update per distinct set of groups: a handful of writes for thousands of KNRs.
    for codes, same in by_codes.items():
        for begin in range(0, len(same), FEEDBACK_BATCH):
            part = same[begin : begin + FEEDBACK_BATCH]
            updated += Prediction.objects.filter(knr__in=part).update(
                real_fail_codes=list(codes), feedback_at=now
            )
    return updated


@dataclass(frozen=True)
class Feedback:
    """What is known of a vehicle's defects: recorded ones, none with its window closed (on
    `closes_at`), or waiting until `closes_at`."""

    state: str
    codes: list[int]
    closes_at: datetime | None

    @property
    def known(self) -> bool:
        return self.state != WAITING


def feedback_of(
    prediction: Prediction, *, window_days: int, now: datetime | None = None
) -> Feedback:
    """A prediction's feedback with the labelling window of `window_days` days.

    Real fail codes set by hand to none count as known without defect, whatever the window.
    """
    now = now or timezone.now()
    produced = prediction.produced_at
    closes_at = produced + timedelta(days=window_days) if produced is not None else None
    real = prediction.real_fail_codes
    if real:
        return Feedback(DEFECT, [int(code) for code in real], closes_at)
    if real is not None or (closes_at is not None and closes_at <= now):
        return Feedback(NO_DEFECT, [], closes_at)
    return Feedback(WAITING, [], closes_at)
