"""Sniff a plant export once, before any row is read: its format, encoding, separator and
header, refused with the reason when it is not an export of the kind it claims to be."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from crossline.exceptions import InvalidUpload, UploadTooLarge
from plant.readers.columns import KINDS, OUTPUT_COLUMNS, REQUIRED_COLUMNS

DEFAULT_MAX_BYTES = 2 * 1024**3
# What a file may unpack to (gzip, xlsx, Parquet): a small archive can hide a huge export.
DEFAULT_MAX_UNCOMPRESSED_BYTES = 16 * 1024**3
# A title or junk row above the header is common; a header further down is not an export.
HEADER_SCAN_ROWS = 10
_HEAD_BYTES = 256 * 1024
_BLOCK_BYTES = 1024 * 1024
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class ExportInfo:
    """What sniffing found, all the reader needs: the file, its format, text encoding,
    separator and header, and what it may unpack to."""

    path: Path
    filename: str
    kind: str
    format: str  # "csv", "csv.gz", "xlsx" or "parquet"
    size_bytes: int
    header_row: int  # 0-based line (CSV), sheet row (xlsx) of the header; 0 for Parquet
    columns: tuple[str, ...]  # the header as found in the file
    positions: dict[str, int]  # canonical column name -> index in the file's header
    encoding: str | None = None
    sep: str | None = None
    sheet: str | None = None
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES


def detect_kind(columns: Iterable[Any]) -> str | None:
    """Return RESULTS or DEFECTS when `columns` hold that kind's required columns, else None."""
    names = {_canonical(c) for c in columns}
    for kind in KINDS:
        if set(REQUIRED_COLUMNS[kind]) <= names:
            return kind
    return None


def sniff_export(
    path: str | Path,
    *,
    filename: str,
    kind: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> ExportInfo:
    """Check an export's head before any row is read; raise InvalidUpload naming the problem.

    The result is all the reader needs (`plant.readers.validation.iter_clean_tables`): the
    file is sniffed once. Checks that need the whole content (binary data, the uncompressed
    size of a gzip'd CSV) run while the rows are streamed, so that the file is read once.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise InvalidUpload(f"{filename} is empty.")
    if size > max_bytes:
        raise UploadTooLarge(
            f"{filename} is {size:,} bytes, over the limit of {max_bytes:,} bytes."
        )
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(b"PAR1"):
        info = _sniff_parquet(path, filename=filename, kind=kind, size=size)
        check_unpacked(filename, _parquet_unpacked_bytes(path), max_uncompressed_bytes)
    elif magic.startswith(b"PK\x03\x04"):
        check_unpacked(filename, _zip_unpacked_bytes(path, filename), max_uncompressed_bytes)
        info = _sniff_xlsx(path, filename=filename, kind=kind, size=size)
    elif magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidUpload(
            f"{filename} is an old binary Excel (.xls) file; save it as .xlsx or CSV."
        )
    else:
        gzipped = magic.startswith(b"\x1f\x8b")
        info = _sniff_text(path, filename=filename, kind=kind, size=size, gzipped=gzipped)
    return replace(info, max_uncompressed_bytes=max_uncompressed_bytes)


def _canonical(name: Any) -> str:
    return "" if name is None else str(name).strip().lstrip("\ufeff").strip().upper()


def _positions(header: Iterable[Any], kind: str) -> dict[str, int]:
    wanted = set(OUTPUT_COLUMNS[kind])
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        canonical = _canonical(name)
        # The first of duplicated columns wins; extra columns are ignored.
        if canonical in wanted and canonical not in positions:
            positions[canonical] = index
    return positions


def _choose_header(
    candidates: list[tuple[int, list[Any]]],
    *,
    filename: str,
    kind: str,
) -> tuple[int, list[Any]]:
    """Pick the first candidate row holding the kind's required columns, or refuse clearly."""
    required = REQUIRED_COLUMNS[kind]
    best: tuple[int, list[Any]] | None = None
    best_found = -1
    for row, header in candidates:
        found = sum(1 for c in required if c in _positions(header, kind))
        if found == len(required):
            return row, header
        if found > best_found:
            best, best_found = (row, header), found
    other = next(
        (k for k in KINDS if k != kind for _, header in candidates if detect_kind(header) == k),
        None,
    )
    present = _positions(best[1], kind) if best else {}
    missing = ", ".join(c for c in required if c not in present)
    message = f"{filename} is missing required columns for a {kind} export: {missing}."
    if other:
        message += f" This looks like a {other} export."
    raise InvalidUpload(message)


def _sniff_text(
    path: Path,
    *,
    filename: str,
    kind: str,
    size: int,
    gzipped: bool,
) -> ExportInfo:
    try:
        with _open_binary(path, gzipped) as f:
            head = f.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidUpload(f"{filename} is not a readable gzip file: {exc}.") from exc
    encoding = _head_encoding(head, filename=filename)
    text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    lines = text.splitlines()
    complete = len(head) < _HEAD_BYTES
    if not complete:
        lines = lines[:-1]  # the last line may be cut off by the head's end
    candidates: list[tuple[int, list[Any]]] = []
    separators: dict[int, str] = {}
    for number, line in enumerate(lines[:HEADER_SCAN_ROWS]):
        if not line.strip():
            continue
        sep, fields = _split_header(line, kind)
        candidates.append((number, fields))
        separators[number] = sep
    if not candidates:
        raise InvalidUpload(f"{filename} has no header and no data rows.")
    header_row, header = _choose_header(candidates, filename=filename, kind=kind)
    if complete and not any(line.strip() for line in lines[header_row + 1 :]):
        raise InvalidUpload(f"{filename} has a header but no data rows.")
    return ExportInfo(
        path=path,
        filename=filename,
        kind=kind,
        format="csv.gz" if gzipped else "csv",
        size_bytes=size,
        header_row=header_row,
        columns=tuple(header),
        positions=_positions(header, kind),
        encoding=encoding,
        sep=separators[header_row],
    )


def _split_header(line: str, kind: str) -> tuple[str, list[str]]:
    best: tuple[int, str, list[str]] | None = None
    for sep in (",", ";", "\t"):
        fields = next(csv.reader([line], delimiter=sep))
        score = len(_positions(fields, kind)) * 100 + len(fields)
        if best is None or score > best[0]:
            best = (score, sep, fields)
    assert best is not None
    return best[1], best[2]


def _open_binary(path: Path, gzipped: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _head_encoding(head: bytes, *, filename: str) -> str:
    """The text encoding of an export from its head; refuse what is not text at all."""
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    if b"\x00" in head:
        raise InvalidUpload(binary_message(filename, "it contains binary data"))
    if _mostly_control(head):
        raise InvalidUpload(binary_message(filename, "unreadable characters"))
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Latin-1 decodes any byte, so it is the fallback for exports from older Windows tools.
        return "latin-1"
    return "utf-8-sig"


def binary_message(filename: str, why: str) -> str:
    """Why a file that is not text is refused, and what to send instead."""
    return (
        f"{filename} is not a text export ({why}); send CSV, gzip'd CSV, .xlsx or Parquet "
        "(UTF-8, Latin-1 or UTF-16 with its byte order mark)."
    )


def check_unpacked(filename: str, unpacked: int, limit: int) -> None:
    """Refuse a file that unpacks to more than `limit` bytes."""
    if unpacked > limit:
        raise InvalidUpload(
            f"{filename} unpacks to more than {limit:,} bytes, over the limit of {limit:,} "
            "bytes; split the export."
        )


def _zip_unpacked_bytes(path: Path, filename: str) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidUpload(f"{filename} is not a readable Excel .xlsx file: {exc}.") from exc


def _parquet_unpacked_bytes(path: Path) -> int:
    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception:  # a damaged file is refused by _sniff_parquet with its reason
        return 0
    return sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))


def _mostly_control(block: bytes) -> bool:
    sample = block[:_BLOCK_BYTES]
    control = sum(sample.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    return control > len(sample) * 0.01


def _sniff_xlsx(path: Path, *, filename: str, kind: str, size: int) -> ExportInfo:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a zip that is not a workbook
        raise InvalidUpload(f"{filename} is not a readable Excel .xlsx file: {exc}.") from exc
    try:
        sheets: list[tuple[str, list[tuple[int, list[Any]]]]] = []
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # exporters often write wrong dimensions
            rows: list[tuple[int, list[Any]]] = []
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number > HEADER_SCAN_ROWS + 1:
                    break
                if any(v is not None and str(v).strip() for v in values):
                    rows.append((number, list(values)))
            sheets.append((sheet.title, rows))
    finally:
        workbook.close()
    for title, rows in sheets:
        for number, header in rows[:HEADER_SCAN_ROWS]:
            if all(c in _positions(header, kind) for c in REQUIRED_COLUMNS[kind]):
                if not any(n > number for n, _ in rows):
                    raise InvalidUpload(f"{filename} has a header but no data rows.")
                return ExportInfo(
                    path=path,
                    filename=filename,
                    kind=kind,
                    format="xlsx",
                    size_bytes=size,
                    header_row=number,
                    columns=tuple(_cell_name(v) for v in header),
                    positions=_positions(header, kind),
                    sheet=title,
                )
    all_rows = [r for _, rows in sheets for r in rows[:HEADER_SCAN_ROWS]]
    if not all_rows:
        raise InvalidUpload(f"{filename} has no header and no data rows.")
    _choose_header(all_rows, filename=filename, kind=kind)
    raise AssertionError("unreachable: _choose_header refuses when no header matches")


def _cell_name(value: Any) -> str:
    return "" if value is None else str(value)


def _sniff_parquet(path: Path, *, filename: str, kind: str, size: int) -> ExportInfo:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise InvalidUpload(f"{filename} is not a readable Parquet file: {exc}.") from exc
    names = list(parquet.schema_arrow.names)
    _choose_header([(0, names)], filename=filename, kind=kind)
    if parquet.metadata.num_rows == 0:
        raise InvalidUpload(f"{filename} has a header but no data rows.")
    positions = _positions(names, kind)
    for name, index in positions.items():
        column_type = parquet.schema_arrow.field(index).type
        if pa.types.is_binary(column_type) or pa.types.is_nested(column_type):
            raise InvalidUpload(f"{filename}: column {name} has unsupported type {column_type}.")
    return ExportInfo(
        path=path,
        filename=filename,
        kind=kind,
        format="parquet",
        size_bytes=size,
        header_row=0,
        columns=tuple(names),
        positions=positions,
    )
