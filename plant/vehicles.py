"""Each vehicle's summary, recomputed from the records of ready datasets after an import
(from the import's own records in memory) or a deletion."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from django.utils import timezone

from crossline.bulk import insert_columns, insert_rows, update_rows
from crossline.domain import frame_codes, parse_framed_codes
from plant.models import Dataset, DatasetKind, Vehicle, VehicleRecord
from plant.readers.records import ChunkRecords, decode_columns
from plant.results import count_results
from plant.selectors import json_pk, list_records
from plant.times import aware_index, aware_list

# KNRs per query when vehicles are recomputed: bounds both memory and the size of `knr__in`.
VEHICLE_BATCH = 1_000
# KNRs per slice when an import creates the vehicles only it knows (queried by KNR range).
NEW_VEHICLE_BATCH = 5_000
VEHICLE_FIELDS = (
    "knr", "first_test_at", "last_test_at", "test_count", "nok_count", "defect_count",
    "has_defects", "fail_group_codes", "dataset_ids", "updated_at",
)


def refresh_vehicles(knrs: Iterable[str], *, pending: PendingRecords | None = None) -> None:
    """Recompute each KNR's Vehicle from the records of ready datasets; drop orphans.

    `pending` holds the summaries of the records an import just wrote, so that they are not
    read back from the database.
    """
    ordered = sorted(set(knrs))
    if pending is not None:
        ordered = [
            knr
            for begin in range(0, len(ordered), NEW_VEHICLE_BATCH)
            for knr in _create_new_vehicles(ordered[begin : begin + NEW_VEHICLE_BATCH], pending)
        ]
    for begin in range(0, len(ordered), VEHICLE_BATCH):
        batch = ordered[begin : begin + VEHICLE_BATCH]
        if pending is None:
            _refresh_vehicle_batch(batch)
        else:
            _refresh_vehicle_batch(batch, pending)


class PendingRecords:
    """Summaries of the records one import wrote (KNR, times, counts), kept as arrays."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset_id = dataset.pk
        self.kind = dataset.kind
        self._parts: list[pd.DataFrame] = []
        self._frame: pd.DataFrame | None = None

    def add(self, chunk: ChunkRecords) -> None:
        self._parts.append(
            pd.DataFrame(
                {
                    # Python strings (object), whose hash-table lookups are fast.
                    "knr": pd.Series(chunk.knrs, dtype=object),
                    "first_at": chunk.first_at,
                    "last_at": chunk.last_at,
                    "row_count": chunk.row_count,
                    "nok_count": chunk.nok_count,
                    "codes": chunk.fail_group_codes,
                }
            )
        )

    def part(self, knrs: list[str]) -> pd.DataFrame:
        """The summaries of these KNRs' records, indexed by KNR (a KNR once per record)."""
        if self._frame is None:
            self._frame = pd.concat(self._parts, ignore_index=True).set_index("knr").sort_index()
            self._parts = []
        # Batches come in KNR order over the import's own KNRs: a slice of the sorted frame,
        # found by bisection (a membership test per batch would make the refresh quadratic).
        index = self._frame.index
        part = self._frame.iloc[
            index.searchsorted(min(knrs), "left") : index.searchsorted(max(knrs), "right")
        ]
        return part[part.index.isin(knrs)]

    def rows(self, knrs: list[str]) -> Iterator[tuple]:
        """Record-like tuples for these KNRs, as `_refresh_vehicle_batch` reads them."""
        part = self.part(knrs)
        tz = timezone.get_default_timezone()
        first = aware_list(part["first_at"].to_numpy(), tz)
        last = aware_list(part["last_at"].to_numpy(), tz)
        for i, (knr, row_count, nok_count, codes) in enumerate(
            zip(
                part.index.tolist(),
                part["row_count"].tolist(),
                part["nok_count"].tolist(),
                part["codes"].tolist(),
                strict=True,
            )
        ):
            yield (knr, self.dataset_id, self.kind, first[i], last[i], row_count, nok_count, codes)


def _ready_dataset_ids() -> list[Any]:
    return list(Dataset.objects.filter(status=Dataset.Status.READY).values_list("pk", flat=True))


def _refresh_vehicle_batch(knrs: list[str], pending: PendingRecords | None = None) -> None:
    ready = set(_ready_dataset_ids())
    summaries: dict[str, dict[str, Any]] = {}
    result_records: dict[str, int] = {}
    # A KNR has a handful of records; those of unfinished imports are skipped below.
    stored = list_records(knrs)
    if pending is not None:
        # The import's own records are summed from memory, not read back.
        stored = stored.exclude(dataset_id=pending.dataset_id)
    rows: Iterable[tuple] = stored.values_list(
        "knr",
        "dataset_id",
        "kind",
        "first_at",
        "last_at",
        "row_count",
        "nok_count",
        "fail_group_codes",
    )
    if pending is not None:
        rows = itertools.chain(rows, pending.rows(knrs))
    for knr, dataset_id, kind, first_at, last_at, row_count, nok_count, codes in rows:
        if dataset_id not in ready:
            continue
        summary = summaries.get(knr)
        if summary is None:
            summary = summaries[knr] = {
                "first_test_at": None,
                "last_test_at": None,
                "test_count": 0,
                "nok_count": 0,
                "defect_count": 0,
                "groups": set(),
                "dataset_ids": set(),
            }
        summary["dataset_ids"].add(dataset_id)
        if kind == DatasetKind.RESULTS:
            result_records[knr] = result_records.get(knr, 0) + 1
            summary["test_count"] += row_count
            summary["nok_count"] += nok_count
            if first_at is not None and (
                summary["first_test_at"] is None or first_at < summary["first_test_at"]
            ):
                summary["first_test_at"] = first_at
            if last_at is not None and (
                summary["last_test_at"] is None or last_at > summary["last_test_at"]
            ):
                summary["last_test_at"] = last_at
        else:
            summary["defect_count"] += row_count
            summary["groups"].update(parse_framed_codes(codes))

    _count_overlapping_results(
        summaries, [knr for knr, count in result_records.items() if count > 1], ready
    )
    # Plain values, not model instances: building a thousand instances was a third of a batch.
    compared = VEHICLE_FIELDS[1:-1]
    existing = {
        knr: (pk, dict(zip(compared, values, strict=True)))
        for pk, knr, *values in Vehicle.objects.filter(knr__in=knrs).values_list(
            "pk", "knr", *compared
        )
    }
    gone = [pk for knr, (pk, _) in existing.items() if knr not in summaries]
    if gone:
        Vehicle.objects.filter(pk__in=gone).delete()
    to_create: list[tuple] = []
    changes: dict[Any, dict[str, Any]] = {}
    now = timezone.now()
    for knr, summary in summaries.items():
        fields = {
            "first_test_at": summary["first_test_at"],
            "last_test_at": summary["last_test_at"],
            "test_count": summary["test_count"],
            "nok_count": summary["nok_count"],
            "defect_count": summary["defect_count"],
            "has_defects": bool(summary["groups"]),
            "fail_group_codes": frame_codes(summary["groups"]),
            "dataset_ids": sorted(json_pk(pk) for pk in summary["dataset_ids"]),
        }
        stored = existing.get(knr)
        if stored is None:
            to_create.append((knr, *(fields[name] for name in compared), now))
        elif stored[1] != fields:
            changes[stored[0]] = fields
    if to_create:
        insert_rows(Vehicle, VEHICLE_FIELDS, to_create)
    # One update per changed vehicle (bulk_update's CASE/$switch expression grows with the
    # batch and is evaluated for every row: quadratic).
    changed = [
        (pk, *(fields[name] for name in VEHICLE_FIELDS[1:-1]), now)
        for pk, fields in changes.items()
    ]
    update_rows(Vehicle, VEHICLE_FIELDS[1:], changed)


def _create_new_vehicles(knrs: list[str], pending: PendingRecords) -> list[str]:
    """Create, column-wise, the vehicles of KNRs the import alone knows (one record each, no
    vehicle or record elsewhere: nearly all of a new export); return the other KNRs.

    `knrs` are sorted: what else the database holds for them is read by KNR range, on the KNR
    indexes alone (a list of thousands of KNRs costs more to prepare than to look up).
    """
    part = pending.part(knrs)
    elsewhere = known_elsewhere(
        knrs[0], knrs[-1], dataset_id=pending.dataset_id, own_records=len(part)
    )
    repeated = part.index.duplicated(keep=False)
    elsewhere.update(part.index[repeated])
    new = part[~part.index.isin(list(elsewhere))]
    count = len(new)
    if count:
        tz = timezone.get_default_timezone()
        if pending.kind == DatasetKind.RESULTS:
            first = aware_index(new["first_at"].to_numpy(), tz)
            last = aware_index(new["last_at"].to_numpy(), tz)
            tests, noks, defects = new["row_count"].tolist(), new["nok_count"].tolist(), [0] * count
            codes = [""] * count
        else:
            first = last = aware_index(np.full(count, np.datetime64("NaT", "ms")), tz)
            tests = noks = [0] * count
            defects = new["row_count"].tolist()
            codes = [frame_codes(parse_framed_codes(text)) for text in new["codes"].tolist()]
        insert_columns(
            Vehicle,
            {
                "knr": new.index.tolist(),
                "first_test_at": first,
                "last_test_at": last,
                "test_count": tests,
                "nok_count": noks,
                "defect_count": defects,
                "has_defects": [bool(text) for text in codes],
                "fail_group_codes": codes,
                "dataset_ids": [[json_pk(pending.dataset_id)]] * count,
                "updated_at": [timezone.now()] * count,
            },
        )
    created = set(new.index)
    return [knr for knr in knrs if knr not in created]


def known_elsewhere(
    first: str, last: str, *, dataset_id: Any, own_records: int | None = None
) -> set[str]:
    """KNRs from `first` to `last` with a vehicle, or a record of another dataset than this.

    `own_records` is how many records this dataset holds in the range: when the range holds
    no more (counted on the KNR index alone), no record is read back.
    """
    span = (first, last)
    records = VehicleRecord.objects.filter(knr__range=span)
    knrs: set[str] = set()
    if own_records is None or records.count() != own_records:
        knrs = {
            knr
            for knr, record_dataset in records.values_list("knr", "dataset_id")
            if record_dataset != dataset_id
        }
    knrs.update(Vehicle.objects.filter(knr__range=span).values_list("knr", flat=True))
    return knrs


def _count_overlapping_results(
    summaries: dict[str, dict[str, Any]], knrs: list[str], ready: set[Any]
) -> None:
    """Recount the results of KNRs stored in several records (overlapping exports), once each."""
    if not knrs:
        return
    records: dict[str, list[dict[str, list[Any]]]] = {knr: [] for knr in knrs}
    stored = list_records(knrs).values_list("knr", "kind", "dataset_id", "rows_json")
    for knr, kind, dataset_id, rows_json in stored:
        if kind == DatasetKind.RESULTS and dataset_id in ready:
            records[knr].append(decode_columns(rows_json))
    for knr, columns in records.items():
        summaries[knr]["test_count"], summaries[knr]["nok_count"] = count_results(columns)
