"""Training's reads: datasets, vehicles and a vehicle's tests and defects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from crossline.domain import framed_code, parse_framed_codes
from crossline.exceptions import NotFound
from training.ingest import RESULTS_COLUMNS, STATUS_NOK, STATUS_OK
from training.models import Dataset, DatasetKind, TrainingRun, Vehicle, VehicleRecord
from training.pipeline.features import RESULT_KEY

STATUS_LABELS = {STATUS_OK: "OK", STATUS_NOK: "NOK"}


@dataclass
class VehicleDetail:
    """A vehicle with every test it went through and every defect recorded for it."""

    vehicle: Vehicle
    tests: list[dict[str, Any]] = field(default_factory=list)
    defects: list[dict[str, Any]] = field(default_factory=list)


def list_datasets() -> QuerySet[Dataset]:
    """All datasets, newest first."""
    return Dataset.objects.select_related("uploaded_by").order_by("-uploaded_at")


def list_ready_datasets(*, kind: str | None = None) -> QuerySet[Dataset]:
    """Datasets whose import finished, optionally of one kind."""
    queryset = Dataset.objects.filter(status=Dataset.Status.READY)
    return queryset.filter(kind=kind) if kind else queryset


def list_vehicles() -> QuerySet[Vehicle]:
    """All vehicles, by KNR."""
    return Vehicle.objects.order_by("knr")


def get_vehicle(knr: str) -> Vehicle:
    """The vehicle with this KNR, or NotFound."""
    vehicle = Vehicle.objects.filter(knr=knr).first()
    if vehicle is None:
        raise NotFound(f"No vehicle with KNR {knr}.")
    return vehicle


def get_vehicle_detail(knr: str, *, vehicle: Vehicle | None = None) -> VehicleDetail:
    """A vehicle's page data: its tests sorted by time, then its defects sorted by time."""
    vehicle = vehicle if vehicle is not None else get_vehicle(knr)
    ready = set(list_ready_datasets().values_list("pk", flat=True))
    # Filtered by KNR alone, so that the KNR index is used (with `dataset_id__in` SQLite picks
    # the dataset index and scans a whole dataset's records: 0.5 s at 5 million rows). One KNR
    # has a handful of records; the few of unfinished imports are skipped here.
    records = VehicleRecord.objects.filter(knr=knr).only("kind", "dataset_id", "columns", "rows")
    detail = VehicleDetail(vehicle=vehicle)
    seen: set[tuple[Any, ...]] = set()
    for record in records:
        if record.dataset_id not in ready:
            continue
        for row in record.rows:
            values = dict(zip(record.columns, row, strict=False))
            if record.kind == DatasetKind.RESULTS:
                # A result in two overlapping exports is shown once, as Vehicle counts it.
                key = tuple(values.get(column) for column in RESULT_KEY)
                if key in seen:
                    continue
                seen.add(key)
                detail.tests.append(_test(values, record.dataset_id))
            else:
                detail.defects.append(_defect(values, record.dataset_id))
    detail.tests.sort(key=lambda t: (t["at"] or "", t["name"] or "", t["value_id"] or 0))
    detail.defects.sort(key=lambda d: d["at"] or "")
    return detail


def _test(values: dict[str, Any], dataset_id: Any) -> dict[str, Any]:
    status = values.get("STATUS")
    return {
        "at": values.get("DATA"),
        "name": values.get("NAME"),
        "family": values.get("ID"),
        "unit": values.get("UNIT"),
        "value_id": values.get("VALUE_ID"),
        "value": values.get("VALUE"),
        "status": STATUS_LABELS.get(status, str(status)),
        "dataset_id": json_pk(dataset_id),
    }


def _defect(values: dict[str, Any], dataset_id: Any) -> dict[str, Any]:
    return {
        "at": values.get("DATA"),
        "fail_group": values.get("S_GROUP_ID"),
        "defect": values.get("FALHA"),
        "station": values.get("ESTACAO"),
        "hall": values.get("HALLE"),
        "inspector": values.get("USUARIO"),
        "model": values.get("MODELO"),
        "colour": values.get("COR"),
        "engine": values.get("MOTOR"),
        "dataset_id": json_pk(dataset_id),
    }


def json_pk(pk: Any) -> Any:
    """A primary key as JSON: integers stay integers, ObjectIds become strings."""
    return pk if isinstance(pk, int) else str(pk)


def list_vehicle_months() -> list[datetime]:
    """The first day of every month between the earliest and the latest first test."""
    first = Vehicle.objects.exclude(first_test_at=None).order_by("first_test_at").first()
    last = Vehicle.objects.exclude(first_test_at=None).order_by("-first_test_at").first()
    if first is None or last is None:
        return []
    start = timezone.localtime(first.first_test_at)
    end = timezone.localtime(last.first_test_at)
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(month_start(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_start(year: int, month: int) -> datetime:
    """Midnight of the month's first day, in TIME_ZONE."""
    return timezone.make_aware(datetime(year, month, 1), timezone.get_default_timezone())


def month_range(year: int, month: int) -> tuple[datetime, datetime]:
    """The month's [start, next month's start) in TIME_ZONE."""
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return month_start(year, month), month_start(*following)


def filter_vehicles_by_month(queryset: QuerySet[Vehicle], year: int, month: int):
    """Vehicles whose first test was in that month."""
    start, end = month_range(year, month)
    return queryset.filter(first_test_at__gte=start, first_test_at__lt=end)


def filter_vehicles_by_fail_group(queryset: QuerySet[Vehicle], code: int):
    """Vehicles with a recorded defect in that fail group."""
    return queryset.filter(fail_group_codes__contains=framed_code(code))


# --- for predictions (added by the predictions app) -------------------------------------------

RESULTS_FRAME_BATCH = 500


def get_results_frame(knrs: list[str]):
    """The stored test results of these KNRs (ready datasets) as one normalised DataFrame."""
    ready = list(list_ready_datasets(kind=DatasetKind.RESULTS).values_list("pk", flat=True))
    unique = list(dict.fromkeys(knrs))
    # Rows grouped by their record's column list (one list in practice): one DataFrame per
    # column list, not one per record, keeps thousands of KNRs fast.
    by_columns: dict[tuple[str, ...], list[list]] = {}
    # Bounded `IN` lists: SQLite caps query parameters, and MongoDB documents have a size limit.
    for begin in range(0, len(unique), RESULTS_FRAME_BATCH):
        records = VehicleRecord.objects.filter(
            knr__in=unique[begin : begin + RESULTS_FRAME_BATCH],
            kind=DatasetKind.RESULTS,
            dataset_id__in=ready,
        ).values_list("knr", "columns", "rows")
        for knr, columns, rows in records:
            if rows:
                by_columns.setdefault(("KNR", *columns), []).extend([knr, *row] for row in rows)
    parts = [pd.DataFrame(rows, columns=list(columns)) for columns, rows in by_columns.items()]
    if not parts:
        frame = pd.DataFrame({column: [] for column in RESULTS_COLUMNS})
    else:
        frame = pd.concat(parts, ignore_index=True)
    for column in RESULTS_COLUMNS:
        if column not in frame:
            frame[column] = None
    frame = frame[list(RESULTS_COLUMNS)]
    return frame.assign(
        KNR=frame["KNR"].astype("str"),
        NAME=frame["NAME"].astype("str"),
        ID=pd.to_numeric(frame["ID"], errors="coerce").astype("Int64"),
        STATUS=pd.to_numeric(frame["STATUS"], errors="coerce").astype("Int64"),
        UNIT=frame["UNIT"].astype("str"),
        VALUE_ID=pd.to_numeric(frame["VALUE_ID"], errors="coerce").astype("float64"),
        VALUE=pd.to_numeric(frame["VALUE"], errors="coerce").astype("float64"),
        DATA=pd.to_datetime(frame["DATA"], errors="coerce", format="ISO8601").astype(
            "datetime64[ms]"
        ),
    )


def list_knrs_tested_since(since: datetime) -> list[str]:
    """KNRs whose first test was at or after `since`, in KNR order."""
    return list(
        Vehicle.objects.filter(first_test_at__gte=since)
        .order_by("knr")
        .values_list("knr", flat=True)
    )


def get_fail_groups(knrs: list[str]) -> dict[str, list[int]]:
    """KNR → the fail groups of its recorded defects, for the vehicles among `knrs`."""
    return {
        knr: parse_framed_codes(codes)
        for knr, codes in Vehicle.objects.filter(knr__in=list(knrs)).values_list(
            "knr", "fail_group_codes"
        )
    }


# --- the admin's dashboard and progress -----------------------------------------------------


def get_vehicle_summary() -> dict[str, Any]:
    """Vehicles in all, with a defect, and first tested in the latest month with vehicles."""
    total = Vehicle.objects.count()
    with_defects = Vehicle.objects.filter(has_defects=True).count()
    latest = Vehicle.objects.exclude(first_test_at=None).order_by("-first_test_at").first()
    month_count, month = 0, None
    if latest is not None:
        local = timezone.localtime(latest.first_test_at)
        month = month_start(local.year, local.month)
        month_count = filter_vehicles_by_month(Vehicle.objects.all(), local.year, local.month)
        month_count = month_count.count()
    return {
        "total": total,
        "with_defects": with_defects,
        "latest_month": month,
        "latest_month_count": month_count,
    }


def list_recent_datasets(limit: int = 5) -> list[Dataset]:
    """The newest imports."""
    return list(Dataset.objects.order_by("-uploaded_at")[:limit])


def list_recent_runs(limit: int = 5) -> list[TrainingRun]:
    """The newest training runs."""
    return list(TrainingRun.objects.order_by("-created_at")[:limit])


def get_run_step(run: TrainingRun) -> tuple[int, int]:
    """(index, total) of the step a run is on: its pipeline's steps, then the save step."""
    steps = [spec.get("step") for spec in (run.pipeline or {}).get("steps", [])]
    total = len(steps) + 1
    if run.status == TrainingRun.Status.SUCCEEDED or run.current_step == TrainingRun.SAVE_STEP:
        return total, total
    if run.current_step in steps:
        return steps.index(run.current_step) + 1, total
    return 0, total


def get_production_months(knrs: list[str] | None = None) -> dict[str, tuple[str, bool]]:
    """KNR → (month of its first test "YYYY-MM", whether it has a recorded defect)."""
    vehicles = Vehicle.objects.exclude(first_test_at=None)
    if knrs is not None:
        vehicles = vehicles.filter(knr__in=list(knrs))
    return {
        knr: (f"{timezone.localtime(first):%Y-%m}", has_defects)
        for knr, first, has_defects in vehicles.values_list("knr", "first_test_at", "has_defects")
    }


def get_training_health() -> tuple[dict[str, Any], list[str]]:
    """Runs running and queued, and a problem for each running run whose heartbeat stopped."""
    now = timezone.now()
    stale_after = timedelta(seconds=settings.CROSSLINE_RUN_STALE_SECONDS)
    running = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).values(
            "pk", "current_step", "heartbeat_at"
        )
    )
    problems = []
    stuck = []
    for run in running:
        beat = run["heartbeat_at"]
        if beat is not None and now - beat <= stale_after:
            continue
        silent = "ever" if beat is None else f"{(now - beat).total_seconds():.0f} s"
        stuck.append(json_pk(run["pk"]))
        problems.append(
            f"Training run {run['pk']} is stuck in step {run['current_step'] or '-'!r}: no "
            f"heartbeat for {silent}. Its worker stopped; the reaper fails it and starts the "
            "next queued run once a worker (manage.py qcluster) runs."
        )
    state = {
        "running": len(running),
        "queued": TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).count(),
        "stuck_runs": stuck,
    }
    return state, problems
