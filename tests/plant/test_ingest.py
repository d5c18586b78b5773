"""Reading, validating and normalising plant exports, without a database."""

from __future__ import annotations

import codecs
import datetime
import gzip
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossline.exceptions import InvalidUpload
from plant.ingest import (
    DEFECTS,
    DEFECTS_SCHEMA,
    RESULTS,
    RESULTS_SCHEMA,
    ValidationReport,
    chunk_to_table,
    detect_kind,
    iter_clean_chunks,
    sniff_export,
)

RESULTS_CSV = (
    ",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
    "0,2024-2056234,012001,1,10,Nm        ,1.0,  12.5    ,2024-05-16 13:21:03\n"
    '1, 2024-2056234 ,SECTION_ZP8_00000001 ,2,13,          ,2.0,"   12,743 ",'
    "2024-05-16 13:21:03.000\n"
    "2,2024-2056234,042000,718,10,,,,2024-05-16 13:22:00\n"
    "3,2024-2056235,042000,718,10,V         ,1.0,#ERR,2024-05-16 13:23:00\n"
)
DEFECTS_CSV = (
    "KNR,MODELO,COR,MOTOR,ESTACAO,USUARIO,HALLE,FALHA,S_GROUP_ID,DATA\n"
    '"2024-2056234","T-CROSS","2T2T","DKR","ZP8","u1","H1","Porta solta",2,'
    '"2024-05-20 21:31:51.992"\n'
    '"2024-2056234","T-CROSS","2T2T","   ","ZP8","u1","H1","Ruído","4","2024-05-20 21:31:52"\n'
    '"2024-2056235","T-CROSS","2T2T","DKL","ZP8","u1","H1","x",5.0,"2024-05-21 08:00:00"\n'
    '"2024-2056236","T-CROSS","2T2T","DKL","ZP8","u1","H1","x"," 1 ","2024-05-21 08:00:00"\n'
    '"2024-2056237","T-CROSS","2T2T","DKL","ZP8","u1","H1","x",-2,"2024-05-21 08:00:00"\n'
    '"2024-2056238","T-CROSS","2T2T","DKL","ZP8","u1","H1","x","#MULTIVALUE",'
    '"2024-05-21 08:00:00"\n'
)


def read(path: Path, kind: str, **kwargs) -> tuple[pd.DataFrame, ValidationReport]:
    report = ValidationReport(kind=kind, filename=path.name)
    chunks = list(iter_clean_chunks(path, filename=path.name, kind=kind, report=report, **kwargs))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(), report


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


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


def test_header_below_a_title_row_semicolons_and_latin1_are_read(tmp_path):
    text = (
        "Export falhas 2024-05;;\n"
        "KNR;S_GROUP_ID;DATA;FALHA\n"
        "2024-2056234;2;2024-05-20 21:31:51;Ruído na porta\n"
    )
    path = write(tmp_path, "d.csv", text, encoding="latin-1")

    info = sniff_export(path, filename="d.csv", kind=DEFECTS)
    frame, report = read(path, DEFECTS)

    assert (info.sep, info.encoding, info.header_row) == (";", "latin-1", 1)
    assert frame["FALHA"].tolist() == ["Ruído na porta"]
    assert report.rows_read == 1


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    path = tmp_path / "results.csv"
    path.write_bytes(gzip.compress(RESULTS_CSV.encode()))

    frame, _ = read(path, RESULTS)

    assert sniff_export(path, filename="results.csv", kind=RESULTS).format == "csv.gz"
    assert len(frame) == 4


def test_reading_in_small_chunks_gives_the_same_rows_as_one_chunk(tmp_path):
    path = write(tmp_path, "r.csv", RESULTS_CSV)

    whole, whole_report = read(path, RESULTS)
    pieces, pieces_report = read(path, RESULTS, chunk_rows=1)

    pd.testing.assert_frame_equal(whole, pieces)
    assert whole_report.to_dict() == pieces_report.to_dict()


def test_xlsx_with_title_row_is_streamed(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Relatório de falhas"])
    sheet.append(["KNR", "S_GROUP_ID", "DATA", "MOTOR"])
    sheet.append(["2024-2056234", 2, datetime.datetime(2024, 5, 20, 21, 31, 51, 992000), "   "])
    sheet.append(["2024-2056234", "#MULTIVALUE", "2024-05-20 21:31:51", "DKR"])
    sheet.append(["bad", 9830946.0, "2024-05-20 21:31:51", "DKR"])
    path = tmp_path / "falhas.xlsx"
    workbook.save(path)

    frame, report = read(path, DEFECTS)

    assert frame["S_GROUP_ID"].tolist() == [2]
    assert frame["DATA"].tolist() == [pd.Timestamp("2024-05-20 21:31:51.992")]
    assert frame["MOTOR"].isna().all()
    assert (report.rows_dropped, report.rows_rejected) == (1, 1)
    # Row numbers are the sheet's, so the team can find the row in Excel.
    assert report.problems["KNR is not of the form YYYY-NNNNNNN"].examples[0]["row"] == 5


def test_parquet_with_typed_columns_is_read_in_batches(tmp_path):
    table = pa.table({
        "Unnamed: 0": [0, 1, 2],
        "KNR": ["2024-2056234", "2024-2056234", "2024-2056235"],
        "NAME": ["012001", "012001", "042000"],
        "ID": [1, 1, 718],
        "STATUS": [10, 13, 10],
        "UNIT": ["Nm        ", "Nm", None],
        "VALUE_ID": [1.0, 2.0, None],
        "VALUE": ["12,5", "  3.25 ", None],
        "DATA": pa.array(
            [datetime.datetime(2024, 5, 16, 13, 21, 3)] * 3, pa.timestamp("ms")
        ),
    })
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)

    frame, report = read(path, RESULTS, chunk_rows=2)

    assert frame["VALUE"].tolist()[:2] == [12.5, 3.25]
    assert frame["STATUS"].tolist() == [10, 13, 10]
    assert frame["UNIT"].tolist()[:2] == ["Nm", "Nm"]
    assert frame["DATA"].tolist()[2] == pd.Timestamp("2024-05-16 13:21:03")
    assert report.rows_accepted == 3 and report.values_unparseable == 0


def test_detect_kind_tells_the_two_exports_apart():
    assert detect_kind(["", "KNR", "NAME", "ID", "STATUS", "UNIT", "VALUE_ID", "VALUE",
                        "DATA"]) == RESULTS
    assert detect_kind(["knr ", "S_GROUP_ID", "DATA"]) == DEFECTS
    assert detect_kind(["KNR", "DATA"]) is None


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        (b"", RESULTS, "r.csv is empty"),
        (b",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n", RESULTS, "no data rows"),
        (b"KNR,NAME,DATA\n2024-2056234,x,2024-05-16\n", RESULTS,
         "missing required columns for a results export: ID, STATUS, UNIT, VALUE_ID, VALUE"),
        (DEFECTS_CSV.encode(), RESULTS, "This looks like a defects export"),
        (RESULTS_CSV.encode(), DEFECTS, "This looks like a results export"),
        (bytes(range(256)) * 40, RESULTS, "r.csv is not a text export"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, RESULTS, "old binary Excel"),
        (b"PK\x03\x04garbage", RESULTS, "r.csv is not a readable Excel .xlsx file"),
        (b"\x1f\x8b\x08\x00garbage", RESULTS, "r.csv is not a readable gzip file"),
    ],
)
def test_whole_file_refusals_name_the_file_and_the_problem(tmp_path, content, kind, message):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    report = ValidationReport(kind=kind, filename="r.csv")

    with pytest.raises(InvalidUpload, match=message.replace(".", r"\.")):
        next(iter_clean_chunks(path, filename="r.csv", kind=kind, report=report))
    assert report.rows_read == 0


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    path = write(tmp_path, "r.csv", RESULTS_CSV)

    with pytest.raises(InvalidUpload, match=r"r\.csv is \d+ bytes, over the limit of 100 bytes"):
        sniff_export(path, filename="r.csv", kind=RESULTS, max_bytes=100)
    assert sniff_export(path, filename="r.csv", kind=RESULTS, max_bytes=10_000).format == "csv"


def test_latin1_detection_looks_past_the_head_of_the_file(tmp_path):
    # The only non-UTF-8 byte sits far past the sniffed head: decoding must not fail later.
    rows = "".join(f"2024-{2000000 + i:07d},2,2024-05-20 21:31:51,x\n" for i in range(20_000))
    text = "KNR,S_GROUP_ID,DATA,FALHA\n" + rows + "2024-2999999,2,2024-05-20 21:31:51,Ruído\n"
    path = write(tmp_path, "d.csv", text, encoding="latin-1")

    frame, report = read(path, DEFECTS, chunk_rows=5_000)

    assert report.rows_accepted == 20_001
    assert frame["FALHA"].iloc[-1] == "Ruído"
    assert np.array_equal(frame["S_GROUP_ID"].unique(), [2])


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


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_exports_with_a_byte_order_mark_are_read(tmp_path, encoding):
    text = "KNR;S_GROUP_ID;DATA;FALHA\n2024-2056234;2;2024-05-20 21:31:51;Ruído na porta\n"
    path = tmp_path / "d.csv"
    body = text.encode(encoding)
    path.write_bytes(body if encoding == "utf-16" else codecs.BOM_UTF16_BE + body)

    frame, report = read(path, DEFECTS)

    assert report.rows_accepted == 1
    assert frame["FALHA"].tolist() == ["Ruído na porta"]


def test_utf16_without_a_byte_order_mark_is_refused_as_not_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("KNR,S_GROUP_ID,DATA\n2024-2056234,2,2024-05-20\n".encode("utf-16-le"))

    with pytest.raises(InvalidUpload, match=r"d\.csv is not a text export .*UTF-16 with its "
                                            r"byte order mark"):
        read(path, DEFECTS)


def test_a_gzip_that_unpacks_past_the_limit_is_refused_while_reading(tmp_path):
    rows = "".join(f"2024-{2000000 + i:07d},2,2024-05-20 21:31:51\n" for i in range(50_000))
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(("KNR,S_GROUP_ID,DATA\n" + rows).encode()))
    report = ValidationReport(kind=DEFECTS, filename="d.csv.gz")

    with pytest.raises(InvalidUpload, match=r"d\.csv\.gz unpacks to more than 100,000 bytes"):
        list(iter_clean_chunks(path, filename="d.csv.gz", kind=DEFECTS, report=report,
                               max_uncompressed_bytes=100_000, chunk_rows=1_000))
    assert report.rows_read < 50_000


def test_the_content_fingerprint_ignores_order_and_compression_but_not_content(tmp_path):
    lines = [f"2024-{2000000 + i:07d},2,2024-05-20 21:31:5{i}\n" for i in range(5)]
    header = "KNR,S_GROUP_ID,DATA\n"
    plain = write(tmp_path, "a.csv", header + "".join(lines))
    packed = tmp_path / "b.csv.gz"
    packed.write_bytes(gzip.compress((header + "".join(reversed(lines))).encode()))
    other = write(tmp_path, "c.csv", header + "".join(lines[:4]) + lines[4].replace(",2,", ",4,"))

    fingerprints = [read(path, DEFECTS)[1].content_fingerprint() for path in (plain, packed, other)]

    assert fingerprints[0] == fingerprints[1] != fingerprints[2]
