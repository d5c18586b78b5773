"""Per-vehicle records from a normalised chunk, built column-wise: rows as JSON text, summaries.

Pure functions over Arrow tables, no Django: the import stores what they return as
VehicleRecords, one per KNR and chunk. A record's rows are one JSON object of columns,
`{"NAME": [...], "ID": [...], ..., "DATA": [...]}`, each column in row order, DATA as the
plant's naive time in milliseconds since 1970 (an integer: written without date formatting,
read back without date parsing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crossline.domain import frame_codes
from plant.readers.columns import DEFECTS, OUTPUT_COLUMNS, RESULTS
from plant.results import RESULT_KEY, STATUS_NOK

_NULL = pa.scalar("null", pa.string())
# JSON must escape these inside strings; they are rare in plant exports, so a value holding
# one is encoded by the json module instead of by the vectorised replacements.
_NEEDS_JSON_MODULE = r"[\x00-\x1f\x7f]"
_EPOCH = datetime(1970, 1, 1)
# Numbers that take a handful of values (sub-result indices): encoded once per distinct value.
_FEW_VALUES = {"VALUE_ID"}
# Odd 64-bit constants mixing a row's key columns into one hash (splitmix64's).
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9))


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
    rows_json: list[str]  # each KNR's rows as one JSON object of columns (`encode_columns`)


def record_columns(kind: str) -> list[str]:
    """The columns kept in a record's rows: every normalised column but the KNR."""
    return [c for c in OUTPUT_COLUMNS[kind] if c != "KNR"]


def text_dictionaries(table: pa.Table) -> dict[str, pa.DictionaryArray]:
    """Each text column of a chunk dictionary-encoded: hashing its strings once serves every
    pass that needs their distinct values (JSON literals, result keys, the fingerprint)."""
    return {
        field.name: pc.dictionary_encode(table[field.name].combine_chunks())
        for field in table.schema
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
    }


def chunk_records(
    table: pa.Table, *, kind: str, dictionaries: dict[str, pa.DictionaryArray] | None = None
) -> ChunkRecords:
    """Group a normalised chunk by KNR: each KNR's rows as JSON text plus its summary.

    `dictionaries` may give the chunk's `text_dictionaries`, when the caller has them.
    """
    n = table.num_rows
    knr = table["KNR"]
    # Exports usually come grouped by vehicle: sorting is then skipped.
    if n and pc.any(pc.less(knr.slice(1), knr.slice(0, n - 1))).as_py():
        table = table.take(pc.sort_indices(table, [("KNR", "ascending")]))  # stable
        knr = table["KNR"]
        dictionaries = None  # encoded in the order given, not this one
    if dictionaries is None:
        dictionaries = text_dictionaries(table)
    changes = pc.not_equal(knr.slice(1), knr.slice(0, max(n - 1, 0))).to_numpy()
    starts = np.flatnonzero(np.r_[True, changes]) if n else np.array([], np.int64)
    ends = np.r_[starts[1:], n].astype(np.int64)
    data = table["DATA"].to_numpy()
    columns = record_columns(kind)
    nok_count = np.zeros(len(starts), dtype=np.int64)
    codes = [""] * len(starts)
    row_count = ends - starts
    if kind == RESULTS and n:
        # A result repeated within the chunk counts once (the key the features use).
        first = first_results(
            table, vehicle=np.repeat(np.arange(len(starts)), row_count), dictionaries=dictionaries
        )
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
        rows_json=encode_columns(table, columns, starts, dictionaries) if n else [],
    )


def first_results(
    table: pa.Table,
    *,
    vehicle: np.ndarray | None = None,
    dictionaries: dict[str, pa.DictionaryArray] | None = None,
) -> np.ndarray:
    """Whether each row is the first of its result key in the table.

    `vehicle` may give each row's KNR as an integer (the rows' group, when already known);
    `dictionaries` the table's `text_dictionaries`.
    Rows are hashed on their key first: distinct hashes prove distinct keys, so only the rows
    sharing a hash (repeated results, nearly always none) are compared exactly.
    """
    n = table.num_rows
    mask = np.ones(n, dtype=bool)
    if n < 2:
        return mask
    hashed = np.zeros(n, dtype=np.uint64)
    dictionaries = dictionaries or {}
    for name in RESULT_KEY:
        if name == "KNR" and vehicle is not None:
            values = vehicle.astype(np.uint64)
        elif name in dictionaries:
            values = _code_integers(dictionaries[name])
        else:
            values = _key_integers(table[name].combine_chunks())
        with np.errstate(over="ignore"):
            hashed = (hashed ^ values) * _MIX[0]
            hashed ^= hashed >> np.uint64(31)
            hashed *= _MIX[1]
            hashed ^= hashed >> np.uint64(29)
    # Every row whose hash another row shares (a hash table: no sort), compared on the key.
    shared = pd.Series(hashed).duplicated(keep=False).to_numpy()
    if not shared.any():
        return mask
    rows = np.flatnonzero(shared)
    keyed = table.select(list(RESULT_KEY)).take(pa.array(rows)).append_column(
        "_row", pa.array(rows, pa.int64())
    )
    firsts = keyed.group_by(list(RESULT_KEY), use_threads=False).aggregate([("_row", "min")])
    mask[rows] = False
    mask[firsts["_row_min"].to_numpy()] = True
    return mask


def _key_integers(array: pa.Array) -> np.ndarray:
    """One key column as 64-bit integers, equal exactly when the values are equal (missing
    values all alike, and unlike any present one)."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _code_integers(pc.dictionary_encode(array))
    if pa.types.is_floating(kind):
        # 0.0 and -0.0 are one value; missing becomes a NaN, which no parsed value is.
        numbers = pc.fill_null(pc.add(array.cast(pa.float64()), 0.0), np.nan).to_numpy()
        return numbers.view(np.uint64)
    if pa.types.is_timestamp(kind):
        array = array.cast(pa.int64())
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
    values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy().astype(np.uint64)
    # A missing value hashes apart from a present 0.
    return np.where(valid, values, np.uint64(0xA5A5A5A5A5A5A5A5))


def _code_integers(encoded: pa.DictionaryArray) -> np.ndarray:
    """A dictionary-encoded key column as 64-bit integers: missing values get the index past
    the dictionary."""
    indices = pc.fill_null(encoded.indices.cast(pa.int64()), len(encoded.dictionary))
    return indices.to_numpy().astype(np.uint64)


def encode_columns(
    table: pa.Table,
    columns: list[str],
    starts: np.ndarray,
    dictionaries: dict[str, pa.DictionaryArray] | None = None,
) -> list[str]:
    """Each KNR's rows (rows `starts[i]` to `starts[i + 1]`) as one JSON object of columns;
    `dictionaries` may give the table's `text_dictionaries`."""
    offsets = pa.array(np.r_[starts, table.num_rows].astype(np.int32))
    dictionaries = dictionaries or {}
    parts: list[Any] = []
    for i, name in enumerate(columns):
        array = dictionaries[name] if name in dictionaries else table[name].combine_chunks()
        values = _json_values(array, name)
        parts.append(("{" if i == 0 else "],") + json.dumps(name) + ":[")
        parts.append(pc.binary_join(pa.ListArray.from_arrays(offsets, values), ","))
    # One join of every piece: each KNR's text is copied once more, not once per column.
    return pc.binary_join_element_wise(*parts, "]}", "").to_pylist()


def decode_columns(text: str) -> dict[str, list[Any]]:
    """A record's rows as its columns (name → values in row order; DATA in milliseconds)."""
    return json.loads(text)


def plant_time_text(milliseconds: int | None) -> str | None:
    """A DATA value as the plant writes its times: `2024-05-16 13:21:03.000`."""
    if milliseconds is None:
        return None
    moment = _EPOCH + timedelta(milliseconds=milliseconds)
    return moment.isoformat(sep=" ", timespec="milliseconds")


def _json_values(array: pa.Array, name: str = "") -> pa.Array:
    """One column's values as JSON literals (text); a repeated value is encoded once."""
    kind = array.type
    if pa.types.is_timestamp(kind):
        # Milliseconds since 1970 of the naive plant time: an integer is far cheaper to write
        # and to read back than a formatted date.
        return pc.fill_null(pc.cast(array.cast(pa.timestamp("ms")).cast(pa.int64()),
                                    pa.string()), _NULL)
    if pa.types.is_dictionary(kind):
        return pc.fill_null(_json_strings(array.dictionary).take(array.indices), _NULL)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(array)
        return pc.fill_null(_json_strings(encoded.dictionary).take(encoded.indices), _NULL)
    if pa.types.is_integer(kind) or name in _FEW_VALUES:
        # Codes (test family, status, fail group) take a handful of values per chunk.
        encoded = pc.dictionary_encode(array)
        text = pc.cast(encoded.dictionary, pa.string())
        return pc.fill_null(text.take(encoded.indices), _NULL)
    # Arrow writes the shortest text that reads back as the same double ("12.743").
    return pc.fill_null(pc.cast(array, pa.string()), _NULL)


def _json_strings(values: pa.Array) -> pa.Array:
    """Distinct strings as JSON string literals."""
    if pc.any(pc.match_substring_regex(values, _NEEDS_JSON_MODULE)).as_py():
        return pa.array([None if v is None else json.dumps(v) for v in values.to_pylist()])
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "")
