"""The stored result rows of one production month: the vehicles first tested in it, read from the
Parquet files of the ready results datasets, only the columns asked for, only the row groups
whose times reach those vehicles' tests, only those vehicles' rows.

A month is as training counts it: a vehicle's production month is that of its first test, in
the plant's time zone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.core.files.storage import default_storage
from django.db.models import Max, Q
from django.utils import timezone

from crossline.domain import MONTH_MESSAGE, parse_month
from plant.models import Dataset, DatasetKind, Vehicle
from plant.selectors import list_ready_datasets, month_range

# Text columns read as dictionaries (a code per row, as training reads them).
DICTIONARY_COLUMNS = ("KNR", "NAME")


@dataclass(frozen=True)
class MonthVehicles:
    """The vehicles of a production month: their KNRs (sorted) and the span of their tests."""

    month: str
    knrs: list[str]
    start: datetime  # the month's first moment (aware)
    last_test_at: datetime | None  # the latest test of any of them (aware)

    def __len__(self) -> int:
        return len(self.knrs)


def get_month_vehicles(month: str) -> MonthVehicles:
    """The vehicles whose first test falls in `month` (YYYY-MM, in TIME_ZONE)."""
    parsed = parse_month(month)
    if parsed is None:
        raise ValueError(f"Not a month: {month!r}. {MONTH_MESSAGE}")
    start, end = month_range(*parsed)
    vehicles = Vehicle.objects.filter(first_test_at__gte=start, first_test_at__lt=end)
    knrs = sorted(vehicles.values_list("knr", flat=True))
    last = vehicles.aggregate(last=Max("last_test_at"))["last"] if knrs else None
    return MonthVehicles(month=month, knrs=knrs, start=start, last_test_at=last)


def list_month_datasets(vehicles: MonthVehicles) -> list[Dataset]:
    """The ready results datasets whose rows may belong to the month's vehicles."""
    if not vehicles.knrs:
        return []
    datasets = list_ready_datasets(kind=DatasetKind.RESULTS).filter(
        Q(last_at=None) | Q(last_at__gte=vehicles.start)
    )
    if vehicles.last_test_at is not None:
        datasets = datasets.filter(Q(first_at=None) | Q(first_at__lte=vehicles.last_test_at))
    return list(datasets.order_by("uploaded_at"))


def read_month_results(vehicles: MonthVehicles, columns: Sequence[str]) -> pd.DataFrame:
    """The month's vehicles' stored result rows, `columns` only, as training reads them (KNR and
    NAME categorical). Rows of other vehicles are left in their row groups."""
    since = timezone.localtime(vehicles.start).replace(tzinfo=None)
    until = (
        timezone.localtime(vehicles.last_test_at).replace(tzinfo=None) + timedelta(seconds=1)
        if vehicles.last_test_at is not None
        else None
    )
    wanted = pa.array(vehicles.knrs, type=pa.string())
    tables = []
    for dataset in list_month_datasets(vehicles):
        with _stored_parquet(dataset.file) as source:
            tables.append(read_rows(source, columns, wanted, since=since, until=until))
    return to_frame(tables, columns)


def read_rows(
    source: str | Path | IO[bytes],
    columns: Sequence[str],
    knrs: pa.Array,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pa.Table:
    """The rows of these KNRs from one Parquet file, from the row groups whose DATA range
    meets [since, until) (row groups without statistics are read)."""
    dictionaries = [name for name in DICTIONARY_COLUMNS if name in columns]
    parquet = pq.ParquetFile(source, read_dictionary=dictionaries)
    groups = _row_groups_meeting(parquet, since, until)
    read = list(dict.fromkeys([*columns, "KNR"]))
    table = parquet.read_row_groups(groups, columns=read) if groups else _empty(parquet, read)
    table = table.filter(pc.is_in(table["KNR"], value_set=knrs))
    return table.select(list(columns))


def to_frame(tables: list[pa.Table], columns: Sequence[str]) -> pd.DataFrame:
    """Tables of one schema as one DataFrame (dictionary columns as categoricals)."""
    tables = [t for t in tables if t.num_rows] or tables[:1]
    if not tables:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    table = pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    pa.default_memory_pool().release_unused()
    return frame


def _row_groups_meeting(
    parquet: pq.ParquetFile, since: datetime | None, until: datetime | None
) -> list[int]:
    position = parquet.schema_arrow.get_field_index("DATA")
    groups = []
    for index in range(parquet.metadata.num_row_groups):
        statistics = (
            parquet.metadata.row_group(index).column(position).statistics
            if position >= 0 else None
        )
        if statistics is not None and statistics.has_min_max:
            low, high = _naive(statistics.min), _naive(statistics.max)
            if (since is not None and high < since) or (until is not None and low >= until):
                continue
        groups.append(index)
    return groups


def _naive(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_convert(None) if stamp.tzinfo else stamp).to_pydatetime()


def _empty(parquet: pq.ParquetFile, columns: list[str]) -> pa.Table:
    schema = pa.schema([parquet.schema_arrow.field(name) for name in columns])
    return schema.empty_table()


@contextlib.contextmanager
def _stored_parquet(name: str) -> Iterator[str | IO[bytes]]:
    """A stored file for pyarrow: its path on the file system (read natively), else the open
    stored file (GridFS), read by the row groups asked for."""
    try:
        path = default_storage.path(name)
    except NotImplementedError:
        path = None
    if path is not None:
        yield path
        return
    with default_storage.open(name, "rb") as handle:
        yield handle
