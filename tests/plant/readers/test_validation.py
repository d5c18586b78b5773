"""Validating exports' rows into the normalised schema, every problem counted."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

from plant.readers.columns import DEFECTS, DEFECTS_SCHEMA, RESULTS, RESULTS_SCHEMA
from plant.readers.validation import chunk_to_table
from tests.plant.readers.samples import DEFECTS_CSV, RESULTS_CSV, read, write


def test_results_quirks_are_normalised(tmp_path):
    frame, report = read(write(tmp_path, "r.csv", RESULTS_CSV), RESULTS)

    assert list(frame.columns) == ["KNR", "NAME", "ID", "STATUS", "UNIT", "VALUE_ID", "VALUE",
                                   "DATA"]
    assert frame["KNR"].tolist() == ["2024-2056234"] * 3 + ["2024-2056235"]
    assert frame["NAME"].tolist()[1] == "SECTION_ZP8_00000001"
    assert frame["UNIT"].tolist()[0] == "Nm"
    assert frame["UNIT"].isna().tolist() == [False, True, True, False]
    assert frame["VALUE"].tolist()[:2] == [12.5, 12.743]
    assert frame["VALUE"].isna().tolist()[2:] == [True, True]
    assert frame["VALUE_ID"].isna().tolist() == [False, False, True, False]
    assert frame["DATA"].tolist()[:2] == [pd.Timestamp("2024-05-16 13:21:03")] * 2
    assert frame["STATUS"].tolist() == [10, 13, 10, 10]
    assert frame.dtypes.astype(str).to_dict() == {
        "KNR": "str", "NAME": "str", "ID": "int64", "STATUS": "int64", "UNIT": "str",
        "VALUE_ID": "float64", "VALUE": "float64", "DATA": "datetime64[ms]",
    }
    # An empty VALUE (status-only test) is not counted, the garbage one is.
    assert report.values_unparseable == 1
    assert report.rows_accepted == 4 and report.rows_rejected == 0
    problem = report.problems["VALUE is not a number (kept as empty)"]
    assert problem.examples == [{"row": 5, "field": "VALUE", "value": "#ERR"}]


def test_chunks_convert_to_the_documented_arrow_schemas(tmp_path):
    results, _ = read(write(tmp_path, "r.csv", RESULTS_CSV), RESULTS)
    defects, _ = read(write(tmp_path, "d.csv", DEFECTS_CSV), DEFECTS)

    assert chunk_to_table(results, kind=RESULTS).schema.equals(RESULTS_SCHEMA)
    assert chunk_to_table(defects, kind=DEFECTS).schema.equals(DEFECTS_SCHEMA)


def test_defect_codes_in_every_form_parse_and_unlabelled_rows_are_dropped(tmp_path):
    frame, report = read(write(tmp_path, "d.csv", DEFECTS_CSV), DEFECTS)

    assert frame["S_GROUP_ID"].tolist() == [2, 4, 5, 1]
    assert frame["S_GROUP_ID"].dtype == "int64"
    assert frame["MOTOR"].isna().tolist() == [False, True, False, False]
    assert frame["FALHA"].tolist()[1] == "Ruído"
    assert frame["DATA"].tolist()[0] == pd.Timestamp("2024-05-20 21:31:51.992")
    assert (report.rows_read, report.rows_accepted, report.rows_dropped,
            report.rows_rejected) == (6, 4, 2, 0)
    dropped = report.problems["S_GROUP_ID is -2 or #MULTIVALUE (no fail group)"]
    assert [e["value"] for e in dropped.examples] == ["-2", "#MULTIVALUE"]
    assert dropped.action == "dropped"


def test_optional_defect_columns_are_filled_when_absent(tmp_path):
    path = write(tmp_path, "d.csv", "KNR,S_GROUP_ID,DATA\n2024-2056234,2,2024-05-20 21:31:51\n")

    frame, report = read(path, DEFECTS)

    assert report.rows_accepted == 1
    assert frame[["MODELO", "COR", "MOTOR", "FALHA"]].isna().all().all()
    assert list(frame.columns)[-2:] == ["S_GROUP_ID", "DATA"]


def test_bad_rows_are_rejected_one_by_one_with_examples(tmp_path):
    text = (
        "KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
        "2024-205623,012001,1,10,Nm,1.0,1,2024-05-16 13:21:03\n"
        "2024-2056234,012001,1,11,Nm,1.0,1,2024-05-16 13:21:03\n"
        "2024-2056234,012001,1,10,Nm,1.0,1,16/05/2024\n"
        "2024-2056234,012001,1,10,Nm,1.0,1,2024-05-16 13:21:03\n"
    )
    frame, report = read(write(tmp_path, "r.csv", text), RESULTS)

    assert len(frame) == 1
    assert (report.rows_read, report.rows_rejected, report.rows_accepted) == (4, 3, 1)
    assert report.problems["KNR is not of the form YYYY-NNNNNNN"].examples == [
        {"row": 2, "field": "KNR", "value": "2024-205623"}
    ]
    assert report.problems["STATUS is not 10 (OK) or 13 (NOK)"].examples[0]["row"] == 3
    assert report.problems["DATA is not a date and time"].examples[0]["value"] == "16/05/2024"
    as_json = report.to_dict()
    assert as_json["problems"]["STATUS is not 10 (OK) or 13 (NOK)"]["count"] == 1
    assert any("3 rejected" in line for line in report.summary_lines())


def test_unparseable_fail_group_is_rejected_not_dropped(tmp_path):
    path = write(tmp_path, "d.csv", "KNR,S_GROUP_ID,DATA\n2024-2056234,abc,2024-05-20 21:31:51\n"
                                    "2024-2056234,2.5,2024-05-20 21:31:51\n")

    frame, report = read(path, DEFECTS)

    assert frame.empty
    assert (report.rows_rejected, report.rows_dropped) == (2, 0)
    assert report.problems["S_GROUP_ID is not a fail group code"].count == 2


def test_infinite_and_overflowing_values_are_kept_as_missing_and_counted(tmp_path):
    text = (
        "KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
        "2024-2056234,012001,1,10,Nm,1.0,1e309,2024-05-16 13:21:03\n"
        "2024-2056234,012001,1,10,Nm,1e999,-1E400,2024-05-16 13:21:04\n"
        "2024-2056234,012001,1,10,Nm,1.0,12.5,2024-05-16 13:21:05\n"
    )
    frame, report = read(write(tmp_path, "r.csv", text), RESULTS)

    assert report.rows_accepted == 3
    assert frame["VALUE"].isna().tolist() == [True, True, False]
    assert frame["VALUE_ID"].isna().tolist() == [False, True, False]
    assert np.isfinite(frame["VALUE"].dropna()).all()
    assert report.problems["VALUE is infinite or out of range (kept as empty)"].examples == [
        {"row": 2, "field": "VALUE", "value": "1e309"},
        {"row": 3, "field": "VALUE", "value": "-1E400"},
    ]
    assert report.problems["VALUE_ID is infinite or out of range (kept as empty)"].count == 1
    assert report.values_unparseable == 3


def test_dates_outside_the_plausible_window_are_rejected_and_reported(tmp_path):
    text = (
        "KNR,S_GROUP_ID,DATA\n"
        "2024-2056234,2,2099-01-01 00:00:00\n"
        "2024-2056234,2,1970-01-01 00:00:00\n"
        "2024-2056234,2,2024-05-20 21:31:51\n"
    )
    window = (datetime.datetime(2000, 1, 1), datetime.datetime(2026, 1, 2))

    frame, report = read(write(tmp_path, "d.csv", text), DEFECTS, dates=window)

    assert frame["DATA"].tolist() == [pd.Timestamp("2024-05-20 21:31:51")]
    problem = report.problems["DATA is outside the plausible window 2000-01-01 to 2026-01-02"]
    assert [e["value"] for e in problem.examples] == ["2099-01-01 00:00:00", "1970-01-01 00:00:00"]
    assert (report.rows_rejected, report.rows_accepted) == (2, 1)
