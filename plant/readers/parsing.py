"""Vectorised parsing of export text (Arrow compute): padded text, decimal commas, codes
written `2`, `"2"` or `2.0`, timestamps; what does not parse becomes missing, never an error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NUMBER_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
# Checked before parsing: pandas refuses a column that mixes time zones even with coerce.
_DATETIME_PATTERN = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"

_NULL_TEXT = pa.scalar(None, pa.string())


def bool_mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, missing as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def per_distinct(values: pa.Array, parse: Any) -> pa.Array:
    """`parse` applied once per distinct value: KNRs, names, units and codes repeat a lot."""
    encoded = dictionary(values)
    return parse(encoded.dictionary).take(encoded.indices)


def dictionary(values: pa.Array) -> pa.DictionaryArray:
    """The values dictionary-encoded (as they are when they come so)."""
    if pa.types.is_dictionary(values.type):
        return values
    return pc.dictionary_encode(values)


def clean_text(values: pa.Array) -> pa.Array:
    """Strip padding; blank becomes missing."""
    stripped = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    return pc.if_else(pc.equal(stripped, ""), _NULL_TEXT, stripped)


def parse_float(text: pa.Array) -> pa.Array:
    """Parse decimal point or comma numbers; anything else becomes missing."""
    dotted = pc.replace_substring(text, ",", ".")
    valid = pc.fill_null(pc.match_substring_regex(dotted, _NUMBER_PATTERN), False)
    return pc.cast(pc.if_else(valid, dotted, _NULL_TEXT), pa.float64())


def finite(numbers: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Infinite numbers (`1e309` overflows) as missing, and where they were."""
    infinite = bool_mask(pc.is_inf(numbers))
    if not infinite.any():
        return numbers, infinite
    return pc.if_else(pa.array(infinite), pa.scalar(None, pa.float64()), numbers), infinite


def parse_integer(text: pa.Array) -> pa.Array:
    """Parse `2`, `" 2 "` and `2.0` alike; anything not a whole number becomes missing."""
    numbers = parse_float(text)
    whole = pc.and_(
        pc.equal(numbers, pc.floor(numbers)), pc.less(pc.abs(numbers), float(2**62))
    )
    return pc.cast(
        pc.if_else(pc.fill_null(whole, False), numbers, pa.scalar(None, pa.float64())), pa.int64()
    )


def parse_datetime(values: pa.Array) -> pa.Array:
    """Parse ISO-like timestamps (`2024-05-16 13:21:03`, `.000`); anything else becomes missing."""
    text = clean_text(values)
    try:
        # Arrow's ISO 8601 cast refuses zone offsets and anything not a date: the common case
        # of a clean column needs no pattern check.
        return pc.cast(pc.cast(text, pa.timestamp("us")), pa.timestamp("ms"), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    plausible = pc.fill_null(pc.match_substring_regex(text, f"^{_DATETIME_PATTERN}$"), False)
    text = pc.if_else(plausible, text, _NULL_TEXT)
    try:
        parsed = pc.cast(text, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A well-formed but impossible date (2024-02-30) fails the whole cast: parse it
        # value by value, the bad ones becoming missing.
        series = pd.to_datetime(
            pd.Series(text.to_pandas(), dtype="str"), format="ISO8601", errors="coerce"
        )
        parsed = pa.array(series.astype("datetime64[us]"), pa.timestamp("us"), from_pandas=True)
    return pc.cast(parsed, pa.timestamp("ms"), safe=False)
