"""Reads of the plant's data: datasets, vehicles, a vehicle's tests and defects, fail groups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from django.db.models import Max, QuerySet
from django.utils import timezone

from crossline.domain import FAIL_GROUPS, framed_code, parse_framed_codes
from crossline.exceptions import NotFound
from plant.models import Dataset, DatasetKind, FailGroup, Vehicle, VehicleRecord
from plant.readers.columns import RESULTS_COLUMNS, RESULTS_SCHEMA
from plant.readers.records import decode_columns, plant_time_text
from plant.results import STATUS_NOK, STATUS_OK

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


def list_datasets_by_ids(ids: Iterable[Any]) -> QuerySet[Dataset]:
    """The datasets with these primary keys (as JSON keeps them: integers or strings)."""
    return Dataset.objects.filter(pk__in=list(ids))


def list_ready_datasets(*, kind: str | None = None) -> QuerySet[Dataset]:
    """Datasets whose import finished, optionally of one kind."""
    queryset = Dataset.objects.filter(status=Dataset.Status.READY)
    return queryset.filter(kind=kind) if kind else queryset


def list_vehicles() -> QuerySet[Vehicle]:
    """All vehicles, by KNR."""
    return Vehicle.objects.order_by("knr")


def get_highest_knr(*, prefix: str = "") -> str | None:
    """The highest stored KNR starting with `prefix` (e.g. a year, "2024-"), or None."""
    vehicles = Vehicle.objects.filter(knr__startswith=prefix) if prefix else Vehicle.objects
    return vehicles.order_by("-knr").values_list("knr", flat=True).first()


def get_latest_test_time() -> datetime | None:
    """The latest stored test of any vehicle (aware), or None."""
    return Vehicle.objects.aggregate(latest=Max("last_test_at"))["latest"]


def get_vehicle(knr: str) -> Vehicle:
    """The vehicle with this KNR, or NotFound."""
    vehicle = Vehicle.objects.filter(knr=knr).first()
    if vehicle is None:
        raise NotFound(f"No vehicle with KNR {knr}.")
    return vehicle


def list_records(knrs: list[str]) -> QuerySet[VehicleRecord]:
    """The records of these KNRs, whatever their dataset (check readiness on the rows).

    Filtered by KNR alone, so that the KNR index is the only one a planner can use: with a
    `dataset_id` condition too, SQLite without statistics walked a whole dataset's records.
    """
    return VehicleRecord.objects.filter(knr__in=list(knrs))


def get_vehicle_detail(knr: str, *, vehicle: Vehicle | None = None) -> VehicleDetail:
    """A vehicle's page data: its tests sorted by time, then its defects sorted by time."""
    vehicle = vehicle if vehicle is not None else get_vehicle(knr)
    ready = set(list_ready_datasets().values_list("pk", flat=True))
    # One KNR has a handful of records; the few of unfinished imports are skipped here.
    records = list_records([knr]).values_list("kind", "dataset_id", "rows_json")
    tests: list[tuple[Any, ...]] = []
    defects: list[tuple[Any, ...]] = []
    seen: set[tuple[Any, ...]] = set()
    for kind, dataset_id, rows_json in records:
        if dataset_id not in ready:
            continue
        values = decode_columns(rows_json)
        if kind == DatasetKind.RESULTS:
            names, families, statuses, units, value_ids, measured, times = (
                _column(values, name) for name in RESULTS_COLUMNS[1:]
            )
            for row in zip(times, names, value_ids, families, units, measured, statuses,
                           strict=True):
                # A result in two overlapping exports is shown once, as Vehicle counts it
                # (the result key: the KNR is the same for all, then NAME, ID, VALUE_ID, DATA).
                key = (row[1], row[3], row[2], row[0])
                if key not in seen:
                    seen.add(key)
                    tests.append((*row, dataset_id))
        else:
            columns = [_column(values, name) for name in _DEFECT_FIELDS]
            defects.extend((*row, dataset_id) for row in zip(*columns, strict=True))
    # By time, then test and sub-result; a missing value sorts first.
    tests.sort(key=lambda t: (t[0] is not None, t[0] or 0, t[1] or "", t[2] or 0))
    defects.sort(key=lambda d: (d[0] is not None, d[0] or 0))
    return VehicleDetail(
        vehicle=vehicle,
        tests=[_test(*row) for row in tests],
        defects=[_defect(*row) for row in defects],
    )


# The defect columns a vehicle's page shows, DATA first (sorted on).
_DEFECT_FIELDS = ("DATA", "S_GROUP_ID", "FALHA", "ESTACAO", "HALLE", "USUARIO", "MODELO", "COR",
                  "MOTOR")


def _column(values: dict[str, list[Any]], name: str) -> list[Any]:
    """One column of a record's rows; a column the record lacks is all missing."""
    found = values.get(name)
    if found is not None:
        return found
    return [None] * len(next(iter(values.values()), []))


def _test(at: int | None, name: str | None, value_id: float | None, family: int | None,
          unit: str | None, value: float | None, status: int | None,
          dataset_id: Any) -> dict[str, Any]:
    return {
        "at": plant_time_text(at),
        "name": name,
        "family": family,
        "unit": unit,
        "value_id": value_id,
        "value": value,
        "status": STATUS_LABELS.get(status, str(status)),
        "dataset_id": json_pk(dataset_id),
    }


def _defect(at: int | None, fail_group: int | None, defect: str | None, station: str | None,
            hall: str | None, inspector: str | None, model: str | None, colour: str | None,
            engine: str | None, dataset_id: Any) -> dict[str, Any]:
    return {
        "at": plant_time_text(at),
        "fail_group": fail_group,
        "defect": defect,
        "station": station,
        "hall": hall,
        "inspector": inspector,
        "model": model,
        "colour": colour,
        "engine": engine,
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


def list_knrs_first_tested_in(year: int, month: int) -> list[str]:
    """The KNRs of the vehicles first tested in that month."""
    return list(
        filter_vehicles_by_month(Vehicle.objects.all(), year, month).values_list("knr", flat=True)
    )


def filter_vehicles_by_fail_group(queryset: QuerySet[Vehicle], code: int):
    """Vehicles with a recorded defect in that fail group."""
    return queryset.filter(fail_group_codes__contains=framed_code(code))


# --- for prediction ----------------------------------------------------------------------------

RESULTS_FRAME_BATCH = 500


def get_results_frame(knrs: list[str]) -> pd.DataFrame:
    """The stored test results of these KNRs (ready datasets) as one normalised DataFrame."""
    unique = list(dict.fromkeys(knrs))
    columns: dict[str, list[Any]] = {name: [] for name in RESULTS_COLUMNS}
    # Bounded `IN` lists: SQLite caps query parameters, and MongoDB documents have a size limit.
    for begin in range(0, len(unique), RESULTS_FRAME_BATCH):
        # The kind and readiness are checked here, on a handful of records per KNR: each
        # record's dataset is joined by its key, never filtered on (see list_records), and a
        # second query for the ready datasets was a tenth of reading one KNR's rows.
        records = list_records(unique[begin : begin + RESULTS_FRAME_BATCH]).values_list(
            "knr", "kind", "dataset__kind", "dataset__status", "rows_json"
        )
        for knr, kind, dataset_kind, dataset_status, rows_json in records:
            if not kind == dataset_kind == DatasetKind.RESULTS or (
                dataset_status != Dataset.Status.READY
            ):
                continue
            values = decode_columns(rows_json)
            count = len(next(iter(values.values()), ()))
            if not count:
                continue
            # The stored columns extend the frame's as they are: no row is built.
            columns["KNR"].extend([knr] * count)
            for name in RESULTS_COLUMNS[1:]:
                columns[name].extend(values.get(name) or [None] * count)
    table = pa.table(
        {
            name: pa.array(columns[name], pa.int64() if name == "DATA" else kind)
            for name, kind in zip(RESULTS_SCHEMA.names, RESULTS_SCHEMA.types, strict=True)
        }
    )
    table = table.set_column(
        table.schema.get_field_index("DATA"), "DATA", table["DATA"].cast(pa.timestamp("ms"))
    )
    return table.to_pandas(types_mapper=_NULLABLE_INTEGERS.get)


_NULLABLE_INTEGERS = {pa.int64(): pd.Int64Dtype()}


def get_test_units(*, vehicles: int = 3) -> dict[tuple[str, int | None], str]:
    """Each test's unit ((NAME, family ID) → "Nm"), as the latest tested vehicles' stored rows
    give it (a vehicle runs nearly every test of the line); tests without one are left out."""
    knrs = list(
        Vehicle.objects.filter(test_count__gt=0)
        .order_by("-last_test_at")
        .values_list("knr", flat=True)[:vehicles]
    )
    units: dict[tuple[str, int | None], str] = {}
    records = list_records(knrs).filter(kind=DatasetKind.RESULTS)
    for rows_json in records.values_list("rows_json", flat=True):
        values = decode_columns(rows_json)
        names, families, stated = (_column(values, c) for c in ("NAME", "ID", "UNIT"))
        for name, family, unit in zip(names, families, stated, strict=True):
            text = str(unit or "").strip()
            if text and name:
                key = (str(name).strip(), None if family is None else int(family))
                units.setdefault(key, text)
    return units


def list_dataset_knrs(dataset_id: Any) -> list[str]:
    """The KNRs whose rows a dataset brought, in KNR order."""
    return sorted(set(
        VehicleRecord.objects.filter(dataset_id=dataset_id).values_list("knr", flat=True)
    ))


def list_knrs_last_tested_since(since: datetime) -> list[str]:
    """KNRs whose last test was at or after `since`, in KNR order."""
    return list(
        Vehicle.objects.filter(last_test_at__gte=since)
        .order_by("knr")
        .values_list("knr", flat=True)
    )


def list_tested_knrs() -> list[str]:
    """KNRs with at least one test result, in KNR order."""
    return list(
        Vehicle.objects.filter(test_count__gt=0).order_by("knr").values_list("knr", flat=True)
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


def list_knrs_with_defects() -> set[str]:
    """The KNRs with a recorded defect (imported from the plant's defect exports)."""
    return set(Vehicle.objects.filter(has_defects=True).values_list("knr", flat=True))




# --- fail groups --------------------------------------------------------------------------------


def list_fail_groups() -> QuerySet[FailGroup]:
    """The fail groups the quality team named, with their indicated tests, by code."""
    return FailGroup.objects.order_by("code")


def get_fail_group_labels() -> dict[int, str]:
    """Code → the name people see: the team's, else the default one (one query: read once per
    page and pass it to `crossline.domain.fail_group_label`)."""
    labels = dict(FAIL_GROUPS)
    named = FailGroup.objects.exclude(name="").values_list("code", "name")
    labels.update(dict(named))
    return labels


def get_indicated_tests(codes: Iterable[int] | None = None) -> dict[int, list[str]]:
    """Code → its indicated tests (the inspections, in order), for these codes or every group."""
    groups = FailGroup.objects.all()
    if codes is not None:
        groups = groups.filter(code__in=[int(code) for code in codes])
    return dict(groups.values_list("code", "inspections"))
