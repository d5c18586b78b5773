"""Sniffing an export once: its format, encoding, separator and header, or a clear refusal."""

from __future__ import annotations

import gzip

import pytest

from crossline.exceptions import InvalidUpload
from plant.readers.columns import DEFECTS, RESULTS
from plant.readers.report import ValidationReport
from plant.readers.sniff import detect_kind, sniff_export
from plant.readers.validation import iter_clean_chunks
from tests.plant.readers.samples import DEFECTS_CSV, RESULTS_CSV, read, write


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
        next(iter_clean_chunks(sniff_export(path, filename="r.csv", kind=kind), report=report))
    assert report.rows_read == 0


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    path = write(tmp_path, "r.csv", RESULTS_CSV)

    with pytest.raises(InvalidUpload, match=r"r\.csv is \d+ bytes, over the limit of 100 bytes"):
        sniff_export(path, filename="r.csv", kind=RESULTS, max_bytes=100)
    assert sniff_export(path, filename="r.csv", kind=RESULTS, max_bytes=10_000).format == "csv"


def test_utf16_without_a_byte_order_mark_is_refused_as_not_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("KNR,S_GROUP_ID,DATA\n2024-2056234,2,2024-05-20\n".encode("utf-16-le"))

    with pytest.raises(InvalidUpload, match=r"d\.csv is not a text export .*UTF-16 with its "
                                            r"byte order mark"):
        read(path, DEFECTS)
