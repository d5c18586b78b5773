"""Per-vehicle records from a normalised chunk, built column-wise: rows as JSON text, summaries.

Pure functions over Arrow tables, no Django: the import stores what they return as
VehicleRecords, one per KNR and chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crossline.domain import frame_codes
from plant.readers.columns import DEFECTS, OUTPUT_COLUMNS, RESULTS
from plant.results import RESULT_KEY, STATUS_NOK

_NULL = pa.scalar("null", pa.string())
# JSON must escape these inside strings; they are rare in plant exports, so a value holding
# one is encoded by the json module instead of by the vectorised replacements.
_NEEDS_JSON_MODULE = r"[\x00-\x1f\x7f]"


@dataclass
class ChunkRecords:
    """One entry per KNR of a chunk, in KNR order."""

    knrs: list[str]
    first_at: np.ndarray  # datetime64[ms]
    last_at: np.ndarray  # datetime64[ms]
    row_count: np.ndarray
    nok_count: np.ndarray
    fail_group_codes: list[str]
    columns: list[str]
    rows_json: list[str]  # each KNR's rows as a JSON array of arrays, in `columns` order


def record_columns(kind: str) -> list[str]:
    """The columns kept in a record's rows: every normalised column but the KNR."""
    return [c for c in OUTPUT_COLUMNS[kind] if c != "KNR"]


def chunk_records(table: pa.Table, *, kind: str) -> ChunkRecords:
    """Group a normalised chunk by KNR: each KNR's rows as JSON text plus its summary."""
    n = table.num_rows
    knr = table["KNR"]
    # Exports usually come grouped by vehicle: sorting is then skipped.
    if n and pc.any(pc.less(knr.slice(1), knr.slice(0, n - 1))).as_py():
        table = table.take(pc.sort_indices(table, [("KNR", "ascending")]))  # stable
        knr = table["KNR"]
    changes = pc.not_equal(knr.slice(1), knr.slice(0, max(n - 1, 0))).to_numpy()
    starts = np.flatnonzero(np.r_[True, changes]) if n else np.array([], np.int64)
    ends = np.r_[starts[1:], n].astype(np.int64)
    data = table["DATA"].to_numpy()
    columns = record_columns(kind)
    lines = json_rows(table, columns)
    offsets = pa.array(np.r_[starts, n].astype(np.int32))
    grouped = pc.binary_join(pa.ListArray.from_arrays(offsets, lines), ",")
    rows_json = ["[" + text + "]" for text in grouped.to_pylist()]
    nok_count = np.zeros(len(starts), dtype=np.int64)
    codes = [""] * len(starts)
    row_count = ends - starts
    if kind == RESULTS and n:
        # A result repeated within the chunk counts once (the key the features use).
        first = first_results(table)
        nok = (table["STATUS"].to_numpy() == STATUS_NOK) & first
        row_count = np.add.reduceat(first.astype(np.int64), starts)
        nok_count = np.add.reduceat(nok.astype(np.int64), starts)
    if kind == DEFECTS and n:
        groups = table["S_GROUP_ID"].to_numpy()
        codes = [
            frame_codes(np.unique(groups[s:e]).tolist())
            for s, e in zip(starts, ends, strict=True)
        ]
    return ChunkRecords(
        knrs=knr.take(pa.array(starts, pa.int64())).to_pylist(),
        first_at=np.minimum.reduceat(data, starts) if n else data[:0],
        last_at=np.maximum.reduceat(data, starts) if n else data[:0],
        row_count=row_count,
        nok_count=nok_count,
        fail_group_codes=codes,
        columns=columns,
        rows_json=rows_json,
    )


def first_results(table: pa.Table) -> np.ndarray:
    """Whether each row is the first of its result key in the table."""
    keyed = table.select(list(RESULT_KEY)).append_column(
        "_row", pa.array(np.arange(table.num_rows, dtype=np.int64))
    )
    firsts = keyed.group_by(list(RESULT_KEY), use_threads=False).aggregate([("_row", "min")])
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[firsts["_row_min"].to_numpy()] = True
    return mask


def json_rows(table: pa.Table, columns: list[str]) -> pa.Array:
    """Each row of `table` as a JSON array of the given columns' values (missing → null)."""
    parts = [_json_values(table[name].combine_chunks()) for name in columns]
    inner = pc.binary_join_element_wise(*parts, ",")
    return pc.binary_join_element_wise("[", inner, "]", "")


def _json_values(array: pa.Array) -> pa.Array:
    """One column's values as JSON literals (text)."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(array)
        return pc.fill_null(_json_strings(encoded.dictionary).take(encoded.indices), _NULL)
    if pa.types.is_timestamp(kind):
        text = pc.cast(array, pa.string())
        return pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), _NULL)
    if pa.types.is_floating(kind):
        # Arrow writes the shortest text that reads back as the same double ("12.743").
        return pc.fill_null(pc.cast(array, pa.string()), _NULL)
    return pc.fill_null(pc.cast(array, pa.string()), _NULL)


def _json_strings(values: pa.Array) -> pa.Array:
    """Distinct strings as JSON string literals."""
    if pc.any(pc.match_substring_regex(values, _NEEDS_JSON_MODULE)).as_py():
        return pa.array([None if v is None else json.dumps(v) for v in values.to_pylist()])
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "")
