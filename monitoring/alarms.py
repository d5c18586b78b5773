"""Alarms: one per kind, month and signal (drift or performance), raised by the first check that
finds it, told once (e-mail and webhooks), open until someone closes it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.models import Alarm, Event, MonthCheck
from monitoring.notifications import notify

logger = logging.getLogger(__name__)

EVENTS = {Alarm.Signal.DRIFT: Event.DRIFT_ALARM, Alarm.Signal.PERFORMANCE: Event.PERFORMANCE_ALARM}


def raise_alarm(*, signal: str, check: MonthCheck, data: dict[str, Any]) -> Alarm:
    """The kind's alarm for the check's month: raised now, or the one raised before (a month
    is checked again as data arrives, and by several workers at once: the unique key on signal,
    kind and month decides)."""
    try:
        # A savepoint, so that SQLite goes on after a duplicate; MongoDB's unique index decides.
        with transaction.atomic():
            alarm = Alarm.objects.create(
                signal=signal,
                type_model=check.type_model,
                month=check.month,
                model_name=check.model_name,
                month_check=check,
                raised_at=timezone.now(),
            )
    except IntegrityError:
        alarm = Alarm.objects.get(signal=signal, type_model=check.type_model, month=check.month)
    if alarm.notified_at is None:
        tell(alarm, data)
    return alarm


def tell(alarm: Alarm, data: dict[str, Any]) -> bool:
    """Notify an alarm once: whoever sets `notified_at` first tells it; a failed notification
    gives the claim back, so that the month's next check tells it."""
    claimed = timezone.now()
    if Alarm.objects.filter(pk=alarm.pk, notified_at=None).update(notified_at=claimed) != 1:
        return False
    try:
        notification = notify(event=EVENTS[alarm.signal], data=data)
    except Exception:
        Alarm.objects.filter(pk=alarm.pk, notified_at=claimed).update(notified_at=None)
        logger.exception("Could not notify the %s alarm of %s, %s", alarm.signal,
                         alarm.type_model, alarm.month)
        return False
    Alarm.objects.filter(pk=alarm.pk).update(notification=notification)
    alarm.notified_at, alarm.notification = claimed, notification
    return True


def close_alarms(*, alarms: Iterable[Alarm], user: Any, note: str = "") -> int:
    """Close open alarms (someone looked into them); how many were still open."""
    closed = 0
    now = timezone.now()
    for alarm in alarms:
        closed += Alarm.objects.filter(pk=alarm.pk, closed_at=None).update(
            closed_at=now, closed_by=user, note=note[:200]
        )
    return closed
