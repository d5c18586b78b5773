"""Insert many plain rows at once: the import's hot path, without building model instances."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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
    if connection.vendor != "sqlite":
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=1000
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
    by_column = [*zip(*rows, strict=True), *([value] * len(rows) for value in defaults)]
    # As the ORM's pre_save: an auto_now field holds the time of the insert, whatever given.
    by_column = [
        [now] * len(rows) if getattr(field, "auto_now", False) else column
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


def _sqlite_converter(field: models.Field) -> Any:
    """A function turning one column of Python values into what SQLite stores for `field`."""
    if isinstance(field, models.DateTimeField):
        return lambda values: [_sqlite_datetime(v) for v in values]
    if isinstance(field, models.JSONField):
        return lambda values: [_json_text(v, field.encoder) for v in values]
    return lambda values: list(values)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """As Django's SQLite backend stores an aware datetime: naive UTC, `str()` form."""
    if value is None:
        return None
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _json_text(value: Any, encoder: Any) -> str | None:
    return None if value is None else json.dumps(value, cls=encoder)
