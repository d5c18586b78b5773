"""Scheduled jobs run once per period, however many worker clusters queue them."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from django.utils import timezone

from crossline.models import ScheduleClaim

NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def claim_period(name: str, period: datetime | str) -> bool:
    """Take on `period` of the schedule `name`; False when a cluster already took it (or a
    later one): a second copy of the same period, or a copy that waited behind a long task.

    `period` is the run time django-q2 intended (its `intended_date_kwarg`, an ISO string),
    the same in every copy the clusters' schedulers queued for one period.
    """
    if isinstance(period, str):
        period = datetime.fromisoformat(period)
    if timezone.is_naive(period):
        period = timezone.make_aware(period, UTC)
    claim = _claim_row(name)
    # By primary key: a single-document compare-and-set, retried on MongoDB after a failover.
    return (
        ScheduleClaim.objects.filter(pk=claim.pk, period__lt=period).update(
            period=period,
            claimed_at=timezone.now(),
            claimed_by=f"{socket.gethostname()}:{os.getpid()}",
        )
        == 1
    )


def _claim_row(name: str) -> ScheduleClaim:
    # Two clusters creating it at once: the unique name refuses one, which then reads it.
    claim, _ = ScheduleClaim.objects.get_or_create(
        name=name, defaults={"period": NEVER, "claimed_at": NEVER, "claimed_by": ""}
    )
    return claim
