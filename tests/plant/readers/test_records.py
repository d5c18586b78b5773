"""Per-vehicle records from a normalised chunk: their rows by column, and results counted once."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pyarrow as pa

from plant.readers.columns import DEFECTS, DEFECTS_SCHEMA, RESULTS, RESULTS_SCHEMA
from plant.readers.records import (
    chunk_records,
    decode_columns,
    first_results,
    plant_time_text,
)

T0 = datetime(2024, 5, 16, 13, 21, 3)
T1 = datetime(2024, 5, 16, 13, 22, 0, 250_000)


def results(rows: list[tuple]) -> pa.Table:
    """A normalised results chunk: (KNR, NAME, ID, STATUS, UNIT, VALUE_ID, VALUE, DATA) rows."""
    return pa.Table.from_pylist(
        [dict(zip(RESULTS_SCHEMA.names, row, strict=True)) for row in rows], schema=RESULTS_SCHEMA
    )


def test_a_result_repeated_anywhere_in_the_chunk_counts_once_and_a_retest_twice():
    table = results([
        ("2024-0000001", "A", 1, 10, "Nm", 1.0, 1.5, T0),
        ("2024-0000001", "A", 1, 13, "Nm", 2.0, 1.5, T0),  # another screw
        ("2024-0000001", "B", 2, 10, None, None, None, T0),
        ("2024-0000001", "A", 1, 13, "Nm", 1.0, 9.9, T0),  # repeated: same key, other value
        ("2024-0000001", "B", 2, 13, None, None, None, T0),  # repeated, missing sub-result
        ("2024-0000001", "B", 2, 10, None, 0.0, None, T0),  # a sub-result 0 is not missing
        ("2024-0000001", "A", 1, 10, "Nm", 1.0, 1.5, T1),  # a retest later
        ("2024-0000001", "A", 718, 10, "Nm", 1.0, 1.5, T0),  # another family
        ("2024-0000002", "A", 1, 13, "Nm", 1.0, 1.5, T0),  # another vehicle
    ])

    first = first_results(table)

    assert first.tolist() == [True, True, True, False, False, True, True, True, True]
    # The vehicle's rows counted by the chunk's records: the repeated ones once, their NOK
    # status not counted (the first row of a result is the one kept).
    records = chunk_records(table, kind=RESULTS)
    assert records.knrs == ["2024-0000001", "2024-0000002"]
    assert records.row_count.tolist() == [6, 1] and records.nok_count.tolist() == [1, 1]


def test_results_without_repeats_are_all_first():
    rng = np.random.default_rng(5)
    rows = [
        (f"2024-{k:07d}", f"T{t}", 2, 10, "Nm", float(s), float(rng.normal()), T0)
        for k in range(50) for t in range(20) for s in range(1, 4)
    ]
    assert first_results(results(rows)).all()


def test_each_vehicles_rows_read_back_column_by_column_as_imported():
    table = results([
        ("2024-0000001", 'SECTION "ZP8" \\ 1', 2, 13, "Nm", 1.0, 12.743, T0),
        ("2024-0000001", "tab\there", 718, 10, None, None, None, T1),
        ("2024-0000002", "ação", 1, 10, "°", 80.0, -0.001, T1),
    ])

    records = chunk_records(table, kind=RESULTS)

    first, second = (decode_columns(text) for text in records.rows_json)
    assert list(first) == records.columns == ["NAME", "ID", "STATUS", "UNIT", "VALUE_ID",
                                               "VALUE", "DATA"]
    assert first["NAME"] == ['SECTION "ZP8" \\ 1', "tab\there"]
    assert first["ID"] == [2, 718] and first["STATUS"] == [13, 10]
    assert first["UNIT"] == ["Nm", None] and first["VALUE_ID"] == [1.0, None]
    assert first["VALUE"] == [12.743, None]
    assert [plant_time_text(ms) for ms in first["DATA"]] == [
        "2024-05-16 13:21:03.000", "2024-05-16 13:22:00.250"
    ]
    assert second == {"NAME": ["ação"], "ID": [1], "STATUS": [10], "UNIT": ["°"],
                      "VALUE_ID": [80.0], "VALUE": [-0.001],
                      "DATA": [int((T1 - datetime(1970, 1, 1)).total_seconds() * 1000)]}
    for text in records.rows_json:
        assert json.loads(text) == decode_columns(text)  # plain JSON


def test_a_defect_record_keeps_its_free_text_and_fail_groups():
    table = pa.Table.from_pylist(
        [
            {"KNR": "2024-0000001", "FALHA": 'Porta "solta"', "S_GROUP_ID": 4, "DATA": T1},
            {"KNR": "2024-0000001", "FALHA": None, "S_GROUP_ID": 2, "DATA": T0},
        ],
        schema=DEFECTS_SCHEMA,
    )

    records = chunk_records(table, kind=DEFECTS)

    values = decode_columns(records.rows_json[0])
    assert values["FALHA"] == ['Porta "solta"', None] and values["S_GROUP_ID"] == [4, 2]
    assert values["MODELO"] == [None, None]
    assert records.fail_group_codes == [",2,4,"] and records.row_count.tolist() == [2]
