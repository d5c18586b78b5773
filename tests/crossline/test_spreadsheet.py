"""The one CSV writer of crossline's exports: formula cells neutralised, numbers kept."""

import csv
import io

import pytest

from crossline.spreadsheet import SafeWriter, neutralise


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Door seal water test", "Door seal water test"),
        ("2024-0000001", "2024-0000001"),
        ("", ""),
    ],
)
def test_text_starting_like_a_formula_gets_a_quote(text, written):
    assert neutralise(text) == written


def test_numbers_crossline_writes_stay_numbers_even_when_negative():
    out = io.StringIO()
    SafeWriter(out).writerows([["-1", -1, -0.25, 0.5, None, True, "=1+1"]])

    [row] = list(csv.reader(io.StringIO(out.getvalue())))

    assert row == ["'-1", "-1", "-0.250000", "0.500000", "", "yes", "'=1+1"]


def test_excel_cells_are_neutralised_like_csv_and_numbers_stay_numbers():
    from openpyxl import load_workbook

    from crossline.spreadsheet import xlsx_bytes

    content = xlsx_bytes(["KNR", "risk", "flagged"], [["=1+2", -0.5, True], [None, 3, False]],
                         sheet="Worklist")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.title == "Worklist"
    assert list(sheet.iter_rows(values_only=True)) == [
        ("KNR", "risk", "flagged"), ("'=1+2", -0.5, "yes"), (None, 3, "no")
    ]
    assert sheet["A2"].data_type == "s", "text, never a formula"
