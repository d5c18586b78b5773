"""The monthly check: every production month of the plant's vehicles against each active model
version, for input drift (`mlmodels.drift`) and estimated performance (`mlmodels.estimation`),
with the realised metrics once the month's labelling window has closed; each kind's alarms
raised and told once per month.

A month is read once for all active versions; versions trained together share one feature
builder, so its feature rows are built once for them. A month is checked again when data
for it arrives after its check, when its labelling window closes, or for a newly active
version; checking is idempotent, so a second worker checking the same month only repeats it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from crossline.domain import fail_group_of, parse_month
from mlmodels import drift, estimation
from mlmodels.models import DriftReference, ModelVersion
from mlmodels.references import (
    get_performance_reference,
    get_version_reference,
    list_test_months,
    load_drift_reference,
    ranked_reference,
)
from mlmodels.selectors import list_active_versions
from mlmodels.services import load_pipeline
from monitoring.alarms import raise_alarm
from monitoring.events import drift_alarm_data, performance_alarm_data
from monitoring.models import Alarm, MonthCheck, MonthSummary, Verdict
from monitoring.month_data import MonthData, gather_month, read_month
from plant.columns import column_labels
from plant.month_rows import MonthVehicles, get_month_vehicles
from plant.selectors import list_ready_datasets, list_vehicle_months
from predictions.capacity import get_label_window_days, get_window_closed_before
from predictions.feedback import recorded_fail_groups

logger = logging.getLogger(__name__)


@dataclass
class Watched:
    """An active version ready to be checked: its ranked drift reference, its estimated-
    performance reference, the months it learned from, its fitted Pipeline."""

    version: ModelVersion
    reference: dict[str, Any]
    performance: dict[str, Any] | None
    trained_months: set[str]
    pipeline: Any = None


@dataclass
class Group:
    """The active versions trained together: one drift reference, one feature builder."""

    stored: DriftReference
    shared: dict[str, Any]
    watched: list[Watched] = field(default_factory=list)


def check_months(
    *, months: list[str] | None = None, kinds: list[str] | None = None, force: bool = False,
    now: datetime | None = None,
) -> list[MonthCheck]:
    """Check the production months that are due (or `months`) against the active versions (of
    `kinds`); `force` checks them even when nothing changed. Returns the checks written."""
    now = now or timezone.now()
    groups = watched_groups(kinds)
    if not groups:
        return []
    wanted = months or [f"{m:%Y-%m}" for m in list_vehicle_months()]
    written: list[MonthCheck] = []
    for month in wanted:
        due = {
            key: [w for w in group.watched if force or is_due(w.version, month, group, now)]
            for key, group in groups.items()
        }
        if not any(due.values()):
            continue
        vehicles = get_month_vehicles(month)
        if not vehicles.knrs:
            continue
        written.extend(check_month(vehicles, groups, due, now))
    return written


def watched_groups(kinds: list[str] | None = None) -> dict[Any, Group]:
    """The active versions (of `kinds`) with a drift reference, grouped by reference."""
    groups: dict[Any, Group] = {}
    for kind, version in sorted(list_active_versions().items()):
        if kinds and kind not in kinds:
            continue
        link = get_version_reference(version)
        if link is None:
            logger.info("%s has no drift reference (trained before them): not checked",
                        version.model_name)
            continue
        group = groups.get(link.reference_id)
        if group is None:
            group = groups[link.reference_id] = Group(
                stored=link.reference, shared=load_drift_reference(link.reference)
            )
        performance = get_performance_reference(version)
        group.watched.append(
            Watched(
                version=version,
                reference=ranked_reference(group.shared, link),
                performance=performance,
                trained_months=trained_months(link.reference, version),
            )
        )
    return groups


def trained_months(stored: DriftReference, version: ModelVersion) -> set[str]:
    """The months with vehicles the version learned from: the run's months, less those whose
    vehicles all went to its test set."""
    tested = Counter(list_test_months(version))
    return {month for month, count in stored.months.items() if count > tested[month]}


def is_due(version: ModelVersion, month: str, group: Group, now: datetime) -> bool:
    """Whether a month needs (another) check for this version: never checked, data arrived for
    it since, or its labelling window closed since."""
    learned = [m for m in group.stored.months if parse_month(m)]
    if learned and month < min(learned):
        return False  # before anything the version learned from
    check = MonthCheck.objects.filter(model_name=version.model_name, month=month).first()
    if check is None:
        return True
    vehicles = get_month_vehicles(month)
    if not check.window_closed and window_closed(vehicles, now):
        return True
    reach = vehicles.start + timedelta(days=31 + get_label_window_days())
    return list_ready_datasets().filter(
        Q(finished_at__gt=check.checked_at),
        Q(last_at=None) | Q(last_at__gte=vehicles.start),
        Q(first_at=None) | Q(first_at__lte=reach),
    ).exists()


def window_closed(vehicles: MonthVehicles, now: datetime) -> bool:
    """Every vehicle of the month is past its labelling window."""
    return vehicles.last_test_at is not None and vehicles.last_test_at <= (
        get_window_closed_before(now=now)
    )


def check_month(
    vehicles: MonthVehicles, groups: dict[Any, Group], due: dict[Any, list[Watched]],
    now: datetime,
) -> list[MonthCheck]:
    """Read the month once; per group of versions due, build, summarise, score and judge."""
    rows = read_month(vehicles)
    closed = window_closed(vehicles, now)
    labels = recorded_fail_groups(vehicles.knrs) if closed else None
    written = []
    for key, watched in due.items():
        if not watched:
            continue
        group = groups[key]
        for item in watched:
            if item.pipeline is None:
                item.pipeline = load_pipeline(item.version)
        data = gather_month(rows, group.shared, {w.version.model_name: w.pipeline for w in watched})
        if data.summary is None:
            continue
        _store_summary(group.stored, vehicles.month, data)
        for item in watched:
            written.append(_judge(item, vehicles.month, data, closed, labels, now))
    return written


def _judge(
    item: Watched, month: str, data: MonthData, closed: bool,
    labels: dict[str, list[int]] | None, now: datetime,
) -> MonthCheck:
    version = item.version
    minimum = settings.CROSSLINE_DRIFT_MIN_VEHICLES
    comparison = drift.compare(data.summary, item.reference)
    judgement = drift.judge_month(comparison, item.reference, min_vehicles=minimum,
                                  chance=settings.CROSSLINE_DRIFT_CHANCE)
    scores = data.scores[version.model_name]
    fields: dict[str, Any] = {
        "type_model": version.type_model,
        "version": version,
        "vehicles": data.vehicles,
        "trained_on": month in item.trained_months,
        "drift": judgement["status"],
        "drifted_share": judgement["drifted_share"],
        "considered": judgement["considered"],
        "drifted": judgement["drifted"],
        "rule": judgement["rule"][:255],
        "columns": comparison["columns"],
        "threshold": version.threshold,
        "window_closed": closed,
        "checked_at": now,
        **_performance(item, month, scores, closed, labels, minimum),
    }
    check = _save_check(version.model_name, month, fields)
    if check.drift == Verdict.ALARM:
        raise_alarm(
            signal=Alarm.Signal.DRIFT,
            check=check,
            data=drift_alarm_data(
                kind=version.type_model, month=month, model_name=version.model_name,
                judgement=judgement, comparison=comparison,
                labels=column_labels(judgement["drifted"]),
            ),
        )
    if check.performance == Verdict.ALARM:
        raise_alarm(
            signal=Alarm.Signal.PERFORMANCE,
            check=check,
            data=performance_alarm_data(
                kind=version.type_model, month=month, model_name=version.model_name,
                estimate={"vehicles": check.vehicles, "estimate": check.estimate,
                          "band": check.band, "outside_band": check.outside_band},
            ),
        )
    return check


def _performance(
    item: Watched, month: str, scores: pd.Series, closed: bool,
    labels: dict[str, list[int]] | None, minimum: int,
) -> dict[str, Any]:
    """The month's estimated performance (none for a month the version learned from: its
    scores there are not a fair test), with the realised metrics once its window closed."""
    empty = {"estimate": None, "band": None, "outside_band": [], "realised": None,
             "difference": None}
    if item.performance is None:
        return {**empty, "performance": Verdict.NO_REFERENCE}
    if month in item.trained_months:
        return {**empty, "performance": Verdict.TRAINING}
    estimate = estimation.estimate_month(scores.to_numpy(), item.performance,
                                         min_vehicles=minimum)
    fields = {
        "performance": estimate["status"],
        "estimate": estimate["estimate"],
        "band": estimate["band"],
        "outside_band": estimate["outside_band"],
        "realised": None,
        "difference": None,
    }
    if closed and labels is not None and len(scores):
        truth = realised_labels(item.version.type_model, scores.index, labels)
        compared = estimation.compare_with_realised(
            estimate, truth, scores.to_numpy(), item.performance["threshold"]
        )
        fields.update(realised=compared["realised"], difference=compared["difference"])
    return fields


def realised_labels(kind: str, knrs: pd.Index, labels: dict[str, list[int]]) -> np.ndarray:
    """1 where the vehicle had a defect of the kind (any, or its fail group) recorded."""
    code = fail_group_of(kind)
    groups = [labels.get(str(knr), []) for knr in knrs]
    if code is None:
        return np.array([int(bool(found)) for found in groups], dtype=np.int64)
    return np.array([int(code in found) for found in groups], dtype=np.int64)


def _store_summary(stored: DriftReference, month: str, data: MonthData) -> None:
    fields = {"vehicles": data.vehicles, "summary": data.summary}
    if MonthSummary.objects.filter(reference=stored, month=month).update(**fields):
        return
    try:
        with transaction.atomic():
            MonthSummary.objects.create(reference=stored, month=month, **fields)
    except IntegrityError:
        MonthSummary.objects.filter(reference=stored, month=month).update(**fields)


def _save_check(model_name: str, month: str, fields: dict[str, Any]) -> MonthCheck:
    """Create the check, or replace the earlier one (one per version and month)."""
    existing = MonthCheck.objects.filter(model_name=model_name, month=month).first()
    if existing is None:
        try:
            with transaction.atomic():
                return MonthCheck.objects.create(model_name=model_name, month=month, **fields)
        except IntegrityError:
            existing = MonthCheck.objects.get(model_name=model_name, month=month)
    MonthCheck.objects.filter(pk=existing.pk).update(**fields)
    existing.refresh_from_db()
    return existing


CHECK_TASK = "monitoring.tasks.check_production_months"


def queue_month_checks(*, kinds: list[str] | None = None) -> str | None:
    """Check the due months on a worker (after an import, an activation); with no active
    version there is nothing to check against, and nothing is queued."""
    if not list_active_versions():
        return None
    return async_task(CHECK_TASK, kinds=kinds, task_name="check production months")
