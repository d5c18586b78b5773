"""Insert many plain rows at once: the import's hot path, without building model instances."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection, models, transaction
from django.utils import timezone


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert `rows` (values in `fields` order, as a model would hold them) into `model`'s table.

    On SQLite one `executemany` with the values converted column by column: Django's
    bulk_create prepares every value of every instance and was most of an import's time.
    Elsewhere bulk_create, so that the backend's own conversions apply.
    """
    if not rows:
        return
    insert_columns(model, dict(zip(fields, zip(*rows, strict=True), strict=True)))


def insert_columns(model: type[models.Model], data: Mapping[str, Sequence[Any]]) -> None:
    """Insert rows given column by column (field name -> equally long values).

    A DateTimeField's column may be a time-zone-aware pandas DatetimeIndex: on SQLite it is
    converted as a whole, not value by value.
    """
    fields = list(data)
    by_column = [data[name] for name in fields]
    count = len(by_column[0]) if by_column else 0
    if not count:
        return
    if connection.vendor != "sqlite":
        by_column = [_python_values(column) for column in by_column]
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in zip(*by_column, strict=True)],
            batch_size=1000,
        )
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    # Fields not given get what a new instance would hold: their default, or now.
    omitted = [
        field for field in meta.concrete_fields
        if not field.primary_key and field not in columns
    ]
    now = timezone.now()
    defaults = [
        now if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        else field.get_default()
        for field in omitted
    ]
    columns += omitted
    converters = [_sqlite_converter(field) for field in columns]
    table = connection.ops.quote_name(meta.db_table)
    names = ", ".join(connection.ops.quote_name(field.column) for field in columns)
    marks = ", ".join("?" for _ in columns)
    by_column = [*by_column, *([value] * count for value in defaults)]
    # As the ORM's pre_save: an auto_now field holds the time of the insert, whatever given.
    by_column = [
        [now] * count if getattr(field, "auto_now", False) else column
        for field, column in zip(columns, by_column, strict=True)
    ]
    converted = [convert(column) for convert, column in zip(converters, by_column, strict=True)]
    values = list(zip(*converted, strict=True))
    # One transaction: in autocommit mode every row would be a commit of its own.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple]) -> None:
    """Update rows by primary key: each row is (pk, values in `fields` order).

    On SQLite one `executemany` in one transaction; elsewhere one update per row (MongoDB
    ignores the transaction: each row's update stands on its own).
    """
    if not rows:
        return
    if connection.vendor != "sqlite":
        for pk, *values in rows:
            model.objects.filter(pk=pk).update(**dict(zip(fields, values, strict=True)))
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    converters = [_sqlite_converter(field) for field in columns]
    pks, *by_column = zip(*rows, strict=True)
    converted = [convert(column) for convert, column in zip(converters, by_column, strict=True)]
    values = [(*row, pk) for *row, pk in zip(*converted, pks, strict=True)]
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = ?" for f in columns)
    table = connection.ops.quote_name(meta.db_table)
    primary_key = connection.ops.quote_name(meta.pk.column)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {primary_key} = ?", values)


def _python_values(column: Sequence[Any]) -> Sequence[Any]:
    """A column as Python values: aware datetimes for a DatetimeIndex (missing as None)."""
    if isinstance(column, pd.DatetimeIndex):
        return [None if value is pd.NaT else value for value in column.to_pydatetime()]
    return column


def _sqlite_converter(field: models.Field) -> Any:
    """A function turning one column of Python values into what SQLite stores for `field`."""
    if isinstance(field, models.DateTimeField):
        return _sqlite_datetimes
    if isinstance(field, models.JSONField):
        return lambda values: _each(values, lambda v: _json_text(v, field.encoder))
    return lambda values: list(values)


def _each(values: Sequence[Any], convert: Any) -> list[Any]:
    """`convert` applied to each value, once for a run of the same object (`[now] * n`)."""
    converted: list[Any] = []
    last: Any = object()
    text = None
    for value in values:
        if value is not last:
            text, last = convert(value), value
        converted.append(text)
    return converted


def _sqlite_datetimes(values: Sequence[Any]) -> list[str | None]:
    """A column of datetimes as SQLite stores them; a DatetimeIndex converted as a whole."""
    if not isinstance(values, pd.DatetimeIndex):
        return _each(values, _sqlite_datetime)
    if values.tz is None:
        raise ValueError("naive datetimes given for a DateTimeField")
    stamps = values.tz_convert(UTC).tz_localize(None).as_unit("us")
    full = pc.cast(pa.array(stamps, pa.timestamp("us")), pa.string())  # "… 06:30:00.000000"
    # str() leaves out the fraction of a whole second.
    whole = pa.array(stamps.asi8 % 1_000_000 == 0)
    text = pc.if_else(whole, pc.utf8_slice_codeunits(full, 0, 19), full)
    return text.to_pylist()


def _sqlite_datetime(value: datetime | None) -> str | None:
    """As Django's SQLite backend stores an aware datetime: naive UTC, `str()` form."""
    if value is None:
        return None
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _json_text(value: Any, encoder: Any) -> str | None:
    return None if value is None else json.dumps(value, cls=encoder)
