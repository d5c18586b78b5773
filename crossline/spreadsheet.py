"""CSV and Excel safe to open in a spreadsheet: the one writer every crossline export uses.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection); OWASP's advice is to prefix it with a
single quote, which spreadsheets show as text. Only text is touched: numbers crossline writes
itself (probabilities, counts) stay numbers, negative ones included.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell that a spreadsheet shows as text, never evaluates."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


class SafeWriter:
    """`csv.writer` whose text cells are neutralised; int and float cells are written as numbers."""

    def __init__(self, handle: Any, *, float_format: str = "{:.6f}", **options: Any) -> None:
        self._writer = csv.writer(handle, **options)
        self._float_format = float_format

    def cell(self, value: Any) -> Any:
        """One cell as written: text neutralised, floats formatted, None empty."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return self._float_format.format(value)
        if isinstance(value, int):
            return value
        return neutralise(str(value))

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([self.cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def xlsx_bytes(header: Iterable[Any], rows: Iterable[Iterable[Any]], *, sheet: str) -> bytes:
    """An Excel workbook of one sheet: the header, then the rows. Text that a spreadsheet would
    read as a formula is neutralised as in CSV; numbers stay numbers, None an empty cell."""
    book = Workbook(write_only=True)
    page = book.create_sheet(title=sheet[:31])
    for row in (header, *rows):
        page.append([_xlsx_cell(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return ("yes" if value else "no") if isinstance(value, bool) else value
    return neutralise(str(value))
