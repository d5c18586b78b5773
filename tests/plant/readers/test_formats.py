"""Reading each format in chunks: CSV, gzip'd CSV, .xlsx, Parquet, Latin-1 and UTF-16."""

from __future__ import annotations

import codecs
import datetime
import gzip

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossline.exceptions import InvalidUpload
from plant.readers.columns import DEFECTS, RESULTS
from plant.readers.formats import iter_raw_tables
from plant.readers.report import ValidationReport
from plant.readers.sniff import sniff_export
from plant.readers.validation import iter_clean_chunks
from tests.plant.readers.samples import RESULTS_CSV, read, write


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


def test_latin1_detection_looks_past_the_head_of_the_file(tmp_path):
    # The only non-UTF-8 byte sits far past the sniffed head: decoding must not fail later.
    rows = "".join(f"2024-{2000000 + i:07d},2,2024-05-20 21:31:51,x\n" for i in range(20_000))
    text = "KNR,S_GROUP_ID,DATA,FALHA\n" + rows + "2024-2999999,2,2024-05-20 21:31:51,Ruído\n"
    path = write(tmp_path, "d.csv", text, encoding="latin-1")

    frame, report = read(path, DEFECTS, chunk_rows=5_000)

    assert report.rows_accepted == 20_001
    assert frame["FALHA"].iloc[-1] == "Ruído"
    assert np.array_equal(frame["S_GROUP_ID"].unique(), [2])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_exports_with_a_byte_order_mark_are_read(tmp_path, encoding):
    text = "KNR;S_GROUP_ID;DATA;FALHA\n2024-2056234;2;2024-05-20 21:31:51;Ruído na porta\n"
    path = tmp_path / "d.csv"
    body = text.encode(encoding)
    path.write_bytes(body if encoding == "utf-16" else codecs.BOM_UTF16_BE + body)

    frame, report = read(path, DEFECTS)

    assert report.rows_accepted == 1
    assert frame["FALHA"].tolist() == ["Ruído na porta"]


def test_a_gzip_that_unpacks_past_the_limit_is_refused_while_reading(tmp_path):
    rows = "".join(f"2024-{2000000 + i:07d},2,2024-05-20 21:31:51\n" for i in range(50_000))
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(("KNR,S_GROUP_ID,DATA\n" + rows).encode()))
    report = ValidationReport(kind=DEFECTS, filename="d.csv.gz")
    info = sniff_export(path, filename="d.csv.gz", kind=DEFECTS, max_uncompressed_bytes=100_000)

    with pytest.raises(InvalidUpload, match=r"d\.csv\.gz unpacks to more than 100,000 bytes"):
        list(iter_clean_chunks(info, report=report, chunk_rows=1_000))
    assert report.rows_read < 50_000


def test_a_csv_gives_repeated_columns_as_text_dictionaries(tmp_path):
    path = write(
        tmp_path,
        "d.csv",
        "KNR,S_GROUP_ID,DATA,FALHA\n"
        + "2024-2056234,2,2024-05-20 21:31:51,Ruído\n" * 3
        + "2024-2056235,2,2024-05-20 21:31:51,Ruído na porta\n",
    )
    info = sniff_export(path, filename="d.csv", kind=DEFECTS)
    report = ValidationReport(kind=DEFECTS, filename="d.csv")

    raw = pa.concat_tables(iter_raw_tables(info, chunk_rows=10, report=report))

    assert raw["KNR"].type == pa.dictionary(pa.int32(), pa.string())
    assert raw["KNR"].to_pylist() == ["2024-2056234"] * 3 + ["2024-2056235"]
    assert raw["FALHA"].to_pylist() == ["Ruído"] * 3 + ["Ruído na porta"]
    assert raw["DATA"].type == pa.string()
