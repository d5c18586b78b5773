"""Validate an export's rows chunk by chunk into the normalised schema, counting every row
rejected, dropped or kept with an unparseable value in the import's report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crossline.domain import KNR_FORMAT, KNR_PATTERN, NO_GROUP_CODE, NO_GROUP_TEXT
from plant.readers.columns import DEFECT_TEXT_COLUMNS, DEFECTS, RESULTS, SCHEMAS
from plant.readers.formats import iter_raw_tables
from plant.readers.parsing import (
    bool_mask,
    clean_text,
    dictionary,
    finite,
    parse_datetime,
    parse_float,
    parse_integer,
    per_distinct,
)
from plant.readers.report import DROPPED, KEPT, REJECTED, ValidationReport
from plant.readers.sniff import ExportInfo
from plant.results import STATUS_NOK, STATUS_OK

# Small enough that reading, grouping and writing overlap well and memory stays low.
DEFAULT_CHUNK_ROWS = 100_000
# Plant timestamps before this, or later than a day after the import, are clock errors.
DEFAULT_EARLIEST_DATE = datetime(2000, 1, 1)
DEFAULT_DAYS_AHEAD = 1


def default_date_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The plausible span of plant timestamps: 2000-01-01 to a day after now."""
    now = now if now is not None else datetime.now()
    return DEFAULT_EARLIEST_DATE, now + timedelta(days=DEFAULT_DAYS_AHEAD)


def iter_clean_chunks(info: ExportInfo, **options: Any) -> Iterator[pd.DataFrame]:
    """Yield the export's accepted rows as DataFrames: `iter_clean_tables`, chunk by chunk."""
    for table in iter_clean_tables(info, **options):
        yield table_to_frame(table)


def iter_clean_tables(
    info: ExportInfo,
    *,
    report: ValidationReport,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    dates: tuple[datetime, datetime] | None = None,
) -> Iterator[pa.Table]:
    """Yield a sniffed export's accepted rows as Arrow tables of its kind's schema, read once
    in chunks of `chunk_rows` and validated into `report` (rows outside `dates` rejected).

    The content fingerprint is left to the caller that needs it (`report.add_fingerprint`).
    """
    window = dates if dates is not None else default_date_window()
    for raw in iter_raw_tables(info, chunk_rows=chunk_rows, report=report):
        clean = normalise_table(raw, kind=info.kind, report=report, dates=window)
        if clean.num_rows:
            yield clean


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A normalised Arrow table as a DataFrame (str, int64, float64, datetime64[ms] columns)."""
    return table.to_pandas()


def normalise_table(
    raw: pa.Table,
    *,
    kind: str,
    report: ValidationReport,
    dates: tuple[datetime, datetime] | None = None,
) -> pa.Table:
    """Parse one chunk of raw strings (plus a `_row` column) into the normalised schema."""
    rows = raw["_row"].to_numpy()
    n = raw.num_rows
    report.rows_read += n
    bad = np.zeros(n, dtype=bool)
    out: dict[str, pa.Array] = {}

    def column(name: str) -> pa.Array:
        if name in raw.column_names:
            return raw[name].combine_chunks()
        return pa.nulls(n, pa.string())

    def reject(mask: np.ndarray, reason: str, name: str) -> None:
        nonlocal bad
        report.add_problem(
            reason, field=name, action=REJECTED, mask=mask, rows=rows, values=column(name)
        )
        bad |= mask

    # Cleaned and checked once per distinct KNR.
    knrs = dictionary(column("KNR"))
    distinct = clean_text(knrs.dictionary)
    knr = distinct.take(knrs.indices)
    well_formed = pc.match_substring_regex(distinct, f"^{KNR_PATTERN}$").take(knrs.indices)
    reject(~bool_mask(well_formed), f"KNR is not of the form {KNR_FORMAT}", "KNR")
    out["KNR"] = knr

    data = parse_datetime(column("DATA"))
    missing_date = ~bool_mask(pc.is_valid(data))
    reject(missing_date, "DATA is not a date and time", "DATA")
    if dates is not None:
        earliest, latest = (pa.scalar(d, pa.timestamp("ms")) for d in dates)
        outside = bool_mask(pc.or_(pc.less(data, earliest), pc.greater(data, latest)))
        reject(
            outside,
            f"DATA is outside the plausible window {dates[0]:%Y-%m-%d} to {dates[1]:%Y-%m-%d}",
            "DATA",
        )

    dropped = np.zeros(n, dtype=bool)
    unparseable = np.zeros(n, dtype=bool)
    infinite: dict[str, np.ndarray] = {}
    if kind == RESULTS:
        name = per_distinct(column("NAME"), clean_text)
        reject(~bool_mask(pc.is_valid(name)), "NAME is blank", "NAME")
        ident = per_distinct(column("ID"), lambda d: parse_integer(clean_text(d)))
        reject(~bool_mask(pc.is_valid(ident)), "ID is not an integer", "ID")
        status = per_distinct(column("STATUS"), lambda d: parse_integer(clean_text(d)))
        reject(
            ~bool_mask(pc.is_in(status, pa.array([STATUS_OK, STATUS_NOK]))),
            "STATUS is not 10 (OK) or 13 (NOK)",
            "STATUS",
        )
        value_text = clean_text(column("VALUE"))
        value, infinite["VALUE"] = finite(parse_float(value_text))
        value_id, infinite["VALUE_ID"] = finite(
            per_distinct(column("VALUE_ID"), lambda d: parse_float(clean_text(d)))
        )
        unparseable = bool_mask(pc.and_(pc.is_null(value), pc.is_valid(value_text)))
        unparseable &= ~infinite["VALUE"]
        out.update(
            NAME=name,
            ID=ident,
            STATUS=status,
            UNIT=per_distinct(column("UNIT"), clean_text),
            VALUE_ID=value_id,
            VALUE=value,
        )
    else:
        for name in DEFECT_TEXT_COLUMNS:
            out[name] = per_distinct(column(name), clean_text)
        code_text = pc.utf8_trim_whitespace(pc.utf8_trim(clean_text(column("S_GROUP_ID")), "\"'"))
        group = parse_integer(code_text)
        dropped = bool_mask(pc.equal(group, NO_GROUP_CODE)) | bool_mask(
            pc.equal(pc.utf8_upper(code_text), NO_GROUP_TEXT)
        )
        reject(
            ~bool_mask(pc.is_valid(group)) & ~dropped,
            "S_GROUP_ID is not a fail group code",
            "S_GROUP_ID",
        )
        out["S_GROUP_ID"] = group
    out["DATA"] = data

    # A rejected row is counted once as rejected, even when it is also a no-group row.
    dropped &= ~bad
    keep = ~(bad | dropped)
    unparseable &= keep
    if kind == DEFECTS:
        report.add_problem(
            f"S_GROUP_ID is {NO_GROUP_CODE} or {NO_GROUP_TEXT} (no fail group)",
            field="S_GROUP_ID",
            action=DROPPED,
            mask=dropped,
            rows=rows,
            values=column("S_GROUP_ID"),
        )
    else:
        report.add_problem(
            "VALUE is not a number (kept as empty)",
            field="VALUE",
            action=KEPT,
            mask=unparseable,
            rows=rows,
            values=column("VALUE"),
        )
        for name, mask in infinite.items():
            mask &= keep
            report.add_problem(
                f"{name} is infinite or out of range (kept as empty)",
                field=name,
                action=KEPT,
                mask=mask,
                rows=rows,
                values=column(name),
            )
            report.values_unparseable += int(mask.sum())
    report.values_unparseable += int(unparseable.sum())
    report.rows_rejected += int(bad.sum())
    report.rows_dropped += int(dropped.sum())
    report.rows_accepted += int(keep.sum())

    schema = SCHEMAS[kind]
    table = pa.table(
        [pc.cast(out[name], schema.field(name).type) for name in schema.names], schema=schema
    )
    # Nearly every chunk keeps all its rows: no copy then.
    return table if keep.all() else table.filter(pa.array(keep))


def chunk_to_table(chunk: pd.DataFrame, *, kind: str) -> pa.Table:
    """Convert a normalised chunk to an Arrow table with the kind's exact schema."""
    return pa.Table.from_pandas(chunk, schema=SCHEMAS[kind], preserve_index=False)
