"""Reads of predictions: lists, filters and statistics (realised metrics: `realised`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from crossline.databases import statistics_database
from crossline.domain import FAIL_GROUPS, fail_group_name, framed_code
from crossline.exceptions import InvalidInput
from mlmodels.selectors import list_predicting_versions
from plant.selectors import (
    get_fail_group_labels,
    get_indicated_tests,
    list_knrs_with_defects,
    month_range,
)
from predictions import feedback
from predictions.capacity import Capacity, get_capacity
from predictions.models import BatchPrediction, Prediction, PredictionHistory


def list_predictions() -> QuerySet[Prediction]:
    """Every current prediction, newest first."""
    return Prediction.objects.order_by("-created_at", "knr")


def list_predicted_knrs() -> set[str]:
    """The KNRs with a current prediction."""
    return set(Prediction.objects.values_list("knr", flat=True))


def get_latest_prediction(knr: str) -> Prediction | None:
    """The current prediction of a KNR, or None (for the vehicle's page)."""
    return Prediction.objects.filter(knr=knr).first()


def list_prediction_history(knr: str) -> QuerySet[PredictionHistory]:
    """A KNR's earlier predictions, newest first."""
    return PredictionHistory.objects.filter(knr=knr).order_by("-created_at")


def list_batches() -> QuerySet[BatchPrediction]:
    """Batch predictions, newest first."""
    return BatchPrediction.objects.order_by("-created_at")


def filter_by_fail_code(queryset: QuerySet[Prediction], code: int) -> QuerySet[Prediction]:
    """Predictions whose predicted groups include `code`."""
    return queryset.filter(predicted_codes_text__contains=framed_code(code))


def filter_by_feedback(
    queryset: QuerySet[Prediction], state: str, *, closed_before: datetime
) -> QuerySet[Prediction]:
    """Predictions whose vehicle has a defect recorded, has none with its labelling window
    closed before `closed_before` (or set to none by hand), or is waiting."""
    recorded = Q(real_fail_codes__isnull=False)
    none_recorded = Q(real_fail_codes=[])
    if state == feedback.DEFECT:
        return queryset.filter(recorded).exclude(none_recorded)
    closed = Q(real_fail_codes__isnull=True, produced_at__lte=closed_before)
    if state == feedback.NO_DEFECT:
        return queryset.filter(none_recorded | closed)
    if state == feedback.WAITING:
        return queryset.filter(real_fail_codes__isnull=True).exclude(
            produced_at__lte=closed_before
        )
    raise InvalidInput(f"feedback={state!r}: use {', '.join(feedback.STATES)}.")


def filter_by_feedback_known(
    queryset: QuerySet[Prediction], known: bool, *, closed_before: datetime
) -> QuerySet[Prediction]:
    """Predictions whose vehicle's defects are known (recorded, set by hand, or none with the
    window closed before `closed_before`), or (`known=False`) still waiting."""
    if not known:
        return filter_by_feedback(queryset, feedback.WAITING, closed_before=closed_before)
    return queryset.filter(Q(real_fail_codes__isnull=False) | Q(produced_at__lte=closed_before))


def filter_by_month(queryset: QuerySet[Prediction], year: int, month: int) -> QuerySet[Prediction]:
    """Predictions made in that month (TIME_ZONE)."""
    start, end = month_range(year, month)
    return queryset.filter(created_at__gte=start, created_at__lt=end)


# --- statistics -------------------------------------------------------------------------------
# Counted in Python over one narrow column: JSON-array queries differ between SQLite and
# MongoDB, and tens of thousands of short lists count in milliseconds.


BY_PRODUCTION = "production"
BY_CREATED = "created"
# Which date a prediction is counted by: its vehicle's production (last test), or when the
# prediction was made.
DATE_FIELDS = {BY_PRODUCTION: "produced_at", BY_CREATED: "created_at"}


def date_field(by: str) -> str:
    try:
        return DATE_FIELDS[by]
    except KeyError:
        raise InvalidInput(f"by={by!r}: use {' or '.join(DATE_FIELDS)}.") from None


def filter_by_period(
    queryset: QuerySet[Prediction], *, by: str = BY_PRODUCTION, year: int | None = None,
    month: int | None = None,
) -> QuerySet[Prediction]:
    """Predictions of vehicles produced (or predictions made) in a year or one of its months."""
    field = date_field(by)
    if year is None:
        if month is not None:
            raise InvalidInput("month needs a year.")
        return queryset
    if month is not None and not 1 <= month <= 12:
        raise InvalidInput(f"month={month}: use 1 to 12.")
    start, _ = month_range(year, month or 1)
    _, end = month_range(year, month or 12)
    return queryset.filter(**{f"{field}__gte": start, f"{field}__lt": end})


def statistics_rows() -> QuerySet[Prediction]:
    """Every current prediction, read where statistics are read (maybe a moment behind)."""
    return Prediction.objects.using(statistics_database())


def count_predicted_fail_codes(
    *, by: str = BY_PRODUCTION, year: int | None = None, month: int | None = None,
    no_model: Iterable[int] = (),
) -> list[dict[str, Any]]:
    """How many current predictions flag each fail group, most frequent first; the groups in
    `no_model` follow, with no count (they are never guessed)."""
    counts: dict[int, int] = defaultdict(int)
    rows = filter_by_period(statistics_rows(), by=by, year=year, month=month)
    for codes in rows.values_list("predicted_fail_codes", flat=True):
        for code in codes or []:
            counts[int(code)] += 1
    labels = get_fail_group_labels()
    missing = sorted(set(no_model) - set(counts))
    return [
        {"fail_code": code, "zone": fail_group_name(code, labels), "count": n, "no_model": False}
        for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ] + [
        {"fail_code": code, "zone": fail_group_name(code, labels), "count": None,
         "no_model": True}
        for code in missing
    ]


def list_no_model_groups() -> list[int]:
    """The team's fail groups with no active version able to predict (shown as "no model")."""
    modelled = {v.fail_group for v in list_predicting_versions().values()}
    groups = set(FAIL_GROUPS) | set(get_indicated_tests())
    return sorted(groups - modelled)


def count_total_fails(
    *, by: str = BY_PRODUCTION, year: int | None = None, month: int | None = None
) -> dict[str, int]:
    """Current predictions split into flagged (fail model or any group over threshold) and not."""
    rows = filter_by_period(statistics_rows(), by=by, year=year, month=month)
    fails = rows.filter(predicted_fail=True).count()
    return {"no_fails": rows.count() - fails, "fails": fails}


def count_fail_codes_by_month(
    *, year: int, fail_code: int | None = None, by: str = BY_PRODUCTION
) -> list[dict[str, Any]]:
    """Per month of `year` (of production, or of the prediction): flagged and real counts of
    one fail group, or of any defect."""
    field = date_field(by)
    rows = filter_by_period(statistics_rows(), by=by, year=year).values_list(
        field, "predicted_fail", "predicted_fail_codes", "real_fail_codes"
    )
    predicted = [0] * 12
    real = [0] * 12
    for moment, predicted_fail, predicted_codes, real_codes in rows:
        month = timezone.localtime(moment).month - 1
        if fail_code is None:
            predicted[month] += bool(predicted_fail)
            real[month] += bool(real_codes)
        else:
            predicted[month] += fail_code in [int(c) for c in predicted_codes or []]
            real[month] += fail_code in [int(c) for c in real_codes or []]
    return [
        {"month": f"{year}-{m + 1:02d}", "predicted": predicted[m], "real": real[m]}
        for m in range(12)
    ]


# --- the admin's dashboard --------------------------------------------------------------------


def get_prediction_summary() -> dict[str, int]:
    """Current predictions in all, and flagged."""
    rows = statistics_rows()
    return {"total": rows.count(), "flagged": rows.filter(predicted_fail=True).count()}


def count_predictions_of(knrs: list[str]) -> int:
    """How many of these vehicles have a prediction (as the statistics count them)."""
    return statistics_rows().filter(knr__in=knrs).count() if knrs else 0


def count_predicted_and_real_by_production_month() -> list[dict[str, Any]]:
    """Per production month (the vehicle's last test, as in the statistics routes) of the
    predicted vehicles: flagged, and with a defect.

    A vehicle counts as really defective when the team recorded a defect for it (its feedback,
    or the defects imported for it).
    """
    defective = list_knrs_with_defects()
    predicted: dict[str, int] = defaultdict(int)
    real: dict[str, int] = defaultdict(int)
    rows = statistics_rows().exclude(produced_at=None).values_list(
        "knr", "produced_at", "predicted_fail", "real_fail_codes"
    )
    for knr, produced_at, predicted_fail, real_codes in rows:
        month = f"{timezone.localtime(produced_at):%Y-%m}"
        predicted[month] += bool(predicted_fail)
        real[month] += bool(real_codes) or knr in defective
    return [
        {"month": month, "predicted": predicted[month], "real": real[month]}
        for month in sorted(predicted)
    ]


# --- the worklist --------------------------------------------------------------------------


@dataclass(frozen=True)
class WorklistDay:
    """One production day of a worklist: its vehicles, how many it may list, how many it does."""

    day: date
    vehicles: int
    allowed: int | None
    listed: int


@dataclass(frozen=True)
class WorklistView:
    """The flagged vehicles of production days `first` to `last`, riskiest first."""

    first: date
    last: date
    capacity: Capacity
    days: list[WorklistDay]
    vehicles: list[Prediction]


def get_latest_production_day() -> date | None:
    """The production day of the latest predicted vehicle, or None before any prediction."""
    latest = (
        Prediction.objects.exclude(produced_at=None)
        .order_by("-produced_at")
        .values_list("produced_at", flat=True)
        .first()
    )
    return None if latest is None else timezone.localtime(latest).date()


def get_worklist(first: date, last: date | None = None) -> WorklistView:
    """The worklist of a production day (or days `first` to `last`): the flagged vehicles by
    risk, highest first, and per day its vehicles, its cap and how many it lists."""
    last = last or first
    if last < first:
        raise InvalidInput("The last day is before the first.", field="to")
    start = _day_start(first)
    end = _day_start(last + timedelta(days=1))
    capacity = get_capacity()
    counts: dict[date, list[int]] = {}
    for produced, flagged in Prediction.objects.filter(
        produced_at__gte=start, produced_at__lt=end
    ).values_list("produced_at", "predicted_fail"):
        day = counts.setdefault(timezone.localtime(produced).date(), [0, 0])
        day[0] += 1
        day[1] += bool(flagged)
    days = [
        WorklistDay(day=day, vehicles=n, allowed=capacity.allowed(n), listed=listed)
        for day, (n, listed) in sorted(counts.items())
    ]
    vehicles = list(
        Prediction.objects.filter(
            produced_at__gte=start, produced_at__lt=end, predicted_fail=True
        ).order_by("-risk", "knr")
    )
    # Earlier predictions without a risk go last, by their fail probability.
    vehicles.sort(key=lambda p: (p.risk is None, -(p.risk or p.p_fail or 0.0), p.knr))
    return WorklistView(first=first, last=last, capacity=capacity, days=days, vehicles=vehicles)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(
        datetime(day.year, day.month, day.day), timezone.get_default_timezone()
    )
