"""Read plant exports (CSV, gzip'd CSV, xlsx, Parquet) in bounded memory and normalise them."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from crossline.domain import KNR_FORMAT, KNR_PATTERN, NO_GROUP_CODE, NO_GROUP_TEXT
from crossline.exceptions import InvalidUpload, UploadTooLarge
from plant.results import STATUS_NOK, STATUS_OK

RESULTS = "results"
DEFECTS = "defects"
KINDS = (RESULTS, DEFECTS)

RESULTS_COLUMNS = ("KNR", "NAME", "ID", "STATUS", "UNIT", "VALUE_ID", "VALUE", "DATA")
DEFECTS_COLUMNS = (
    "KNR",
    "MODELO",
    "COR",
    "MOTOR",
    "ESTACAO",
    "USUARIO",
    "HALLE",
    "FALHA",
    "S_GROUP_ID",
    "DATA",
)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    RESULTS: RESULTS_COLUMNS,
    DEFECTS: ("KNR", "S_GROUP_ID", "DATA"),
}
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {RESULTS: RESULTS_COLUMNS, DEFECTS: DEFECTS_COLUMNS}
DEFECT_TEXT_COLUMNS = ("MODELO", "COR", "MOTOR", "ESTACAO", "USUARIO", "HALLE", "FALHA")

RESULTS_SCHEMA = pa.schema(
    [
        ("KNR", pa.string()),
        ("NAME", pa.string()),
        ("ID", pa.int64()),
        ("STATUS", pa.int64()),
        ("UNIT", pa.string()),
        ("VALUE_ID", pa.float64()),
        ("VALUE", pa.float64()),
        ("DATA", pa.timestamp("ms")),
    ]
)
DEFECTS_SCHEMA = pa.schema(
    [(name, pa.string()) for name in DEFECTS_COLUMNS[:-2]]
    + [("S_GROUP_ID", pa.int64()), ("DATA", pa.timestamp("ms"))]
)
SCHEMAS: dict[str, pa.Schema] = {RESULTS: RESULTS_SCHEMA, DEFECTS: DEFECTS_SCHEMA}


DEFAULT_MAX_BYTES = 2 * 1024**3
# What a file may unpack to (gzip, xlsx, Parquet): a small archive can hide a huge export.
DEFAULT_MAX_UNCOMPRESSED_BYTES = 16 * 1024**3
# Small enough that reading, grouping and writing overlap well and memory stays low.
DEFAULT_CHUNK_ROWS = 100_000
# Plant timestamps before this, or later than a day after the import, are clock errors.
DEFAULT_EARLIEST_DATE = datetime(2000, 1, 1)
DEFAULT_DAYS_AHEAD = 1
# A title or junk row above the header is common; a header further down is not an export.
HEADER_SCAN_ROWS = 10
MAX_EXAMPLES = 5
_HEAD_BYTES = 256 * 1024
_BLOCK_BYTES = 1024 * 1024
# Bytes the CSV reader parses at a time; chunks are then cut to the caller's row count.
_CSV_BLOCK_BYTES = 4 * 1024 * 1024
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

_NUMBER_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
# Checked before parsing: pandas refuses a column that mixes time zones even with coerce.
_DATETIME_PATTERN = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"

REJECTED = "rejected"
KEPT = "kept"
DROPPED = "dropped"


@dataclass
class ProblemCount:
    """How often one problem occurred, what was done about it, and the first few examples."""

    field: str
    action: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """What happened to an export's rows; accumulates over the chunks of one file."""

    kind: str
    filename: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_dropped: int = 0
    values_unparseable: int = 0
    problems: dict[str, ProblemCount] = field(default_factory=dict)
    # Bytes of the file consumed so far (compressed, as stored): progress without a line count.
    bytes_read: int = 0
    _sums: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.uint64), repr=False)

    def add_problem(
        self,
        reason: str,
        *,
        field: str,
        action: str,
        mask: np.ndarray,
        rows: np.ndarray,
        values: pa.Array,
    ) -> None:
        """Count the rows where `mask` is set under `reason`, keeping the first few as examples."""
        count = int(np.count_nonzero(mask))
        if count == 0:
            return
        problem = self.problems.setdefault(reason, ProblemCount(field=field, action=action))
        problem.count += count
        room = MAX_EXAMPLES - len(problem.examples)
        if room <= 0:
            return
        where = np.flatnonzero(mask)[:room]
        for row, value in zip(rows[where].tolist(), values.take(where).to_pylist(), strict=True):
            problem.examples.append(
                {"row": int(row), "field": field, "value": None if value is None else str(value)}
            )

    def add_fingerprint(self, frame: pd.DataFrame) -> None:
        """Fold accepted rows into an order-independent fingerprint of the file's content."""
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        # Sums wrap modulo 2**64 whatever the order; the second, of remixed hashes, makes a
        # collision of both sums between different contents vanishingly unlikely.
        with np.errstate(over="ignore"):
            self._sums[0] += hashes.sum(dtype=np.uint64)
            mixed = (hashes ^ (hashes >> np.uint64(31))) * np.uint64(0x9E3779B97F4A7C15)
            self._sums[1] += mixed.sum(dtype=np.uint64)

    def content_fingerprint(self) -> str:
        """SHA-256 of the kind, the accepted row count and the row hashes' sums."""
        text = f"{self.kind}:{self.rows_accepted}:{int(self._sums[0])}:{int(self._sums[1])}"
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-serialisable data."""
        return {
            "kind": self.kind,
            "filename": self.filename,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "rows_dropped": self.rows_dropped,
            "values_unparseable": self.values_unparseable,
            "problems": {
                reason: {
                    "field": p.field,
                    "action": p.action,
                    "count": p.count,
                    "examples": [dict(e) for e in p.examples],
                }
                for reason, p in self.problems.items()
            },
        }

    def summary_lines(self) -> list[str]:
        """Return a short human-readable account of the import, one line per fact."""
        return report_lines(self.to_dict())

    def refuse_if_nothing_accepted(self) -> None:
        """Raise InvalidUpload, naming the file and its problems, when no row was accepted."""
        if self.rows_accepted == 0:
            problems = "; ".join(f"{reason}: {p.count}" for reason, p in self.problems.items())
            raise InvalidUpload(
                f"{self.filename}: none of its {self.rows_read} rows was accepted "
                f"({problems or 'none'})."
            )


def report_lines(report: dict[str, Any]) -> list[str]:
    """A validation report (as stored) in words: the counts, then one line per problem."""
    lines = [
        f"{report['rows_read']:,} rows read, {report['rows_accepted']:,} accepted, "
        f"{report['rows_rejected']:,} rejected, {report['rows_dropped']:,} dropped, "
        f"{report['values_unparseable']:,} values unparseable"
    ]
    for reason, problem in report.get("problems", {}).items():
        examples = ", ".join(f"row {e['row']}: {e['value']!r}" for e in problem["examples"])
        lines.append(f"{reason}: {problem['count']:,} rows {problem['action']} (e.g. {examples})")
    return lines


@dataclass(frozen=True)
class ExportInfo:
    """What sniffing found: the file's format, text encoding, separator and header."""

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

    Checks that need the whole content (binary data, the uncompressed size of a gzip'd CSV)
    run while the rows are streamed, so that the file is read once.
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
        _check_unpacked(filename, _parquet_unpacked_bytes(path), max_uncompressed_bytes)
        return info
    if magic.startswith(b"PK\x03\x04"):
        _check_unpacked(filename, _zip_unpacked_bytes(path, filename), max_uncompressed_bytes)
        return _sniff_xlsx(path, filename=filename, kind=kind, size=size)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidUpload(
            f"{filename} is an old binary Excel (.xls) file; save it as .xlsx or CSV."
        )
    gzipped = magic.startswith(b"\x1f\x8b")
    return _sniff_text(path, filename=filename, kind=kind, size=size, gzipped=gzipped)


def default_date_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The plausible span of plant timestamps: 2000-01-01 to a day after now."""
    now = now if now is not None else datetime.now()
    return DEFAULT_EARLIEST_DATE, now + timedelta(days=DEFAULT_DAYS_AHEAD)


def iter_clean_chunks(path: str | Path, **options: Any) -> Iterator[pd.DataFrame]:
    """Yield the export's accepted rows as DataFrames: `iter_clean_tables`, chunk by chunk."""
    for table in iter_clean_tables(path, **options):
        yield table_to_frame(table)


def iter_clean_tables(
    path: str | Path,
    *,
    filename: str,
    kind: str,
    report: ValidationReport,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    dates: tuple[datetime, datetime] | None = None,
) -> Iterator[pa.Table]:
    """Yield the accepted rows as Arrow tables of the kind's schema; the file is read once."""
    # Sniffing runs on the first next(), so a refused file raises before any row is yielded.
    info = sniff_export(
        path,
        filename=filename,
        kind=kind,
        max_bytes=max_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
    )
    window = dates if dates is not None else default_date_window()
    for raw in _iter_raw_tables(Path(path), info, chunk_rows, report, max_uncompressed_bytes):
        clean = normalise_table(raw, kind=kind, report=report, dates=window)
        if clean.num_rows:
            report.add_fingerprint(table_to_frame(clean))
            yield clean


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A normalised Arrow table as a DataFrame (str, int64, float64, datetime64[ms] columns)."""
    return table.to_pandas()


def normalise_table(
    raw: pa.Table,
    *,
    kind: str,
    report: ValidationReport,
    dates: tuple[datetime, datetime] | None = None,
) -> pa.Table:
    """Parse one chunk of raw strings (plus a `_row` column) into the normalised schema."""
    rows = raw["_row"].to_numpy()
    n = raw.num_rows
    report.rows_read += n
    bad = np.zeros(n, dtype=bool)
    out: dict[str, pa.Array] = {}

    def column(name: str) -> pa.Array:
        if name in raw.column_names:
            return raw[name].combine_chunks()
        return pa.nulls(n, pa.string())

    def reject(mask: np.ndarray, reason: str, name: str) -> None:
        nonlocal bad
        report.add_problem(
            reason, field=name, action=REJECTED, mask=mask, rows=rows, values=column(name)
        )
        bad |= mask

    knr = _per_distinct(column("KNR"), _text)
    reject(
        ~_mask(_per_distinct(knr, lambda d: pc.match_substring_regex(d, f"^{KNR_PATTERN}$"))),
        f"KNR is not of the form {KNR_FORMAT}",
        "KNR",
    )
    out["KNR"] = knr

    data = _parse_datetime(column("DATA"))
    missing_date = ~_mask(pc.is_valid(data))
    reject(missing_date, "DATA is not a date and time", "DATA")
    if dates is not None:
        earliest, latest = (pa.scalar(d, pa.timestamp("ms")) for d in dates)
        outside = _mask(pc.or_(pc.less(data, earliest), pc.greater(data, latest)))
        reject(
            outside,
            f"DATA is outside the plausible window {dates[0]:%Y-%m-%d} to {dates[1]:%Y-%m-%d}",
            "DATA",
        )

    dropped = np.zeros(n, dtype=bool)
    unparseable = np.zeros(n, dtype=bool)
    infinite: dict[str, np.ndarray] = {}
    if kind == RESULTS:
        name = _per_distinct(column("NAME"), _text)
        reject(~_mask(pc.is_valid(name)), "NAME is blank", "NAME")
        ident = _per_distinct(column("ID"), lambda d: _parse_integer(_text(d)))
        reject(~_mask(pc.is_valid(ident)), "ID is not an integer", "ID")
        status = _per_distinct(column("STATUS"), lambda d: _parse_integer(_text(d)))
        reject(
            ~_mask(pc.is_in(status, pa.array([STATUS_OK, STATUS_NOK]))),
            "STATUS is not 10 (OK) or 13 (NOK)",
            "STATUS",
        )
        value_text = _text(column("VALUE"))
        value, infinite["VALUE"] = _finite(_parse_float(value_text))
        value_id, infinite["VALUE_ID"] = _finite(
            _per_distinct(column("VALUE_ID"), lambda d: _parse_float(_text(d)))
        )
        unparseable = _mask(pc.and_(pc.is_null(value), pc.is_valid(value_text)))
        unparseable &= ~infinite["VALUE"]
        out.update(
            NAME=name,
            ID=ident,
            STATUS=status,
            UNIT=_per_distinct(column("UNIT"), _text),
            VALUE_ID=value_id,
            VALUE=value,
        )
    else:
        for name in DEFECT_TEXT_COLUMNS:
            out[name] = _per_distinct(column(name), _text)
        code_text = pc.utf8_trim_whitespace(pc.utf8_trim(_text(column("S_GROUP_ID")), "\"'"))
        group = _parse_integer(code_text)
        dropped = _mask(pc.equal(group, NO_GROUP_CODE)) | _mask(
            pc.equal(pc.utf8_upper(code_text), NO_GROUP_TEXT)
        )
        reject(
            ~_mask(pc.is_valid(group)) & ~dropped,
            "S_GROUP_ID is not a fail group code",
            "S_GROUP_ID",
        )
        out["S_GROUP_ID"] = group
    out["DATA"] = data

    # A rejected row is counted once as rejected, even when it is also a no-group row.
    dropped &= ~bad
    keep = ~(bad | dropped)
    unparseable &= keep
    if kind == DEFECTS:
        report.add_problem(
            f"S_GROUP_ID is {NO_GROUP_CODE} or {NO_GROUP_TEXT} (no fail group)",
            field="S_GROUP_ID",
            action=DROPPED,
            mask=dropped,
            rows=rows,
            values=column("S_GROUP_ID"),
        )
    else:
        report.add_problem(
            "VALUE is not a number (kept as empty)",
            field="VALUE",
            action=KEPT,
            mask=unparseable,
            rows=rows,
            values=column("VALUE"),
        )
        for name, mask in infinite.items():
            mask &= keep
            report.add_problem(
                f"{name} is infinite or out of range (kept as empty)",
                field=name,
                action=KEPT,
                mask=mask,
                rows=rows,
                values=column(name),
            )
            report.values_unparseable += int(mask.sum())
    report.values_unparseable += int(unparseable.sum())
    report.rows_rejected += int(bad.sum())
    report.rows_dropped += int(dropped.sum())
    report.rows_accepted += int(keep.sum())

    schema = SCHEMAS[kind]
    table = pa.table(
        [pc.cast(out[name], schema.field(name).type) for name in schema.names], schema=schema
    )
    return table.filter(pa.array(keep))


def chunk_to_table(chunk: pd.DataFrame, *, kind: str) -> pa.Table:
    """Convert a normalised chunk to an Arrow table with the kind's exact schema."""
    return pa.Table.from_pandas(chunk, schema=SCHEMAS[kind], preserve_index=False)


# --- whole-file checks --------------------------------------------------------------------


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
        raise InvalidUpload(_binary_message(filename, "it contains binary data"))
    if _mostly_control(head):
        raise InvalidUpload(_binary_message(filename, "unreadable characters"))
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Latin-1 decodes any byte, so it is the fallback for exports from older Windows tools.
        return "latin-1"
    return "utf-8-sig"


def _binary_message(filename: str, why: str) -> str:
    return (
        f"{filename} is not a text export ({why}); send CSV, gzip'd CSV, .xlsx or Parquet "
        "(UTF-8, Latin-1 or UTF-16 with its byte order mark)."
    )


def _check_unpacked(filename: str, unpacked: int, limit: int) -> None:
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
        filename=filename,
        kind=kind,
        format="parquet",
        size_bytes=size,
        header_row=0,
        columns=tuple(names),
        positions=positions,
    )


# --- streaming -----------------------------------------------------------------------------


def _iter_raw_tables(
    path: Path,
    info: ExportInfo,
    chunk_rows: int,
    report: ValidationReport,
    max_uncompressed_bytes: int,
) -> Iterator[pa.Table]:
    """Yield raw string chunks named by canonical column plus `_row` (the row in the file)."""
    if info.format == "parquet":
        chunks = _iter_parquet(path, info, chunk_rows, report)
    elif info.format == "xlsx":
        chunks = _iter_xlsx(path, info, chunk_rows, report)
    else:
        chunks = _iter_csv(path, info, report, max_uncompressed_bytes)
    yield from _rechunk(chunks, chunk_rows)


def _rechunk(tables: Iterable[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    """Cut a stream of tables into tables of exactly `chunk_rows` rows (the last shorter)."""
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= chunk_rows:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, chunk_rows)
            rest = whole.slice(chunk_rows)
            pending, held = [rest], rest.num_rows
    if held:
        yield pa.concat_tables(pending)


class _CheckedStream(io.RawIOBase):
    """The export's bytes as UTF-8 for the CSV reader, checked as they pass.

    Counts the stored bytes consumed (progress) and the unpacked bytes (the size limit),
    refuses binary content, and transcodes Latin-1 and UTF-16 on the way.
    """

    def __init__(
        self,
        path: Path,
        info: ExportInfo,
        report: ValidationReport,
        max_uncompressed_bytes: int,
    ) -> None:
        super().__init__()
        self._raw = path.open("rb")
        self._source = gzip.GzipFile(fileobj=self._raw) if info.format == "csv.gz" else self._raw
        self._info = info
        self._report = report
        self._limit = max_uncompressed_bytes
        self._unpacked = 0
        self._decoder = (
            codecs.getincrementaldecoder(info.encoding)()
            if info.encoding not in (None, "utf-8-sig")
            else None
        )

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            block = self._source.read(size if size and size > 0 else _BLOCK_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            name = self._info.filename
            raise InvalidUpload(f"{name} is not a readable gzip file: {exc}.") from exc
        self._unpacked += len(block)
        if self._unpacked > self._limit:
            _check_unpacked(self._info.filename, self._unpacked, self._limit)
        if self._decoder is not None:
            block = self._decoder.decode(block, final=not block).encode("utf-8")
        if b"\x00" in block:
            raise InvalidUpload(_binary_message(self._info.filename, "it contains binary data"))
        self._report.bytes_read = self._raw.tell()
        return block

    def close(self) -> None:
        self._source.close()
        self._raw.close()
        super().close()


def _iter_csv(
    path: Path, info: ExportInfo, report: ValidationReport, max_uncompressed_bytes: int
) -> Iterator[pa.Table]:
    names = sorted(info.positions, key=info.positions.__getitem__)
    width = len(info.columns)
    # Positional names: the file's own header may be blank, duplicated or cut short.
    positional = [f"c{i}" for i in range(width)]
    skipped: list[str] = []

    def skip_row(row: Any) -> str:
        skipped.append(row.text)
        return "skip"

    stream = _CheckedStream(path, info, report, max_uncompressed_bytes)
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(
                skip_rows=info.header_row + 1,
                column_names=positional,
                block_size=_CSV_BLOCK_BYTES,
                use_threads=True,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=info.sep or ",",
                newlines_in_values=True,
                invalid_row_handler=skip_row,
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=[positional[info.positions[n]] for n in names],
                # Bytes, not text: a Latin-1 byte deep in a UTF-8 file decodes per column.
                column_types={positional[info.positions[n]]: pa.binary() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        stream.close()
        raise InvalidUpload(f"{info.filename} could not be read: {exc}") from exc
    # Row numbers are 1-based file lines (the header's line + 1 + data row index); blank
    # lines, quoted newlines and skipped rows shift them, an accepted approximation.
    first_line = info.header_row + 2
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise InvalidUpload(f"{info.filename} could not be read: {exc}") from exc
            if skipped:
                _count_short_rows(report, skipped, width, first_line)
                skipped.clear()
            columns = {n: _decode(batch.column(positional[info.positions[n]])) for n in names}
            columns["_row"] = pa.array(
                np.arange(first_line, first_line + batch.num_rows, dtype=np.int64)
            )
            first_line += batch.num_rows
            yield pa.table(columns)
    finally:
        stream.close()


def _count_short_rows(report: ValidationReport, texts: list[str], width: int, line: int) -> None:
    """Rows with a different number of fields than the header: read and rejected."""
    report.rows_read += len(texts)
    report.rows_rejected += len(texts)
    report.add_problem(
        f"row does not have the header's {width} fields",
        field="",
        action=REJECTED,
        mask=np.ones(len(texts), dtype=bool),
        rows=np.full(len(texts), line, dtype=np.int64),
        values=pa.array(texts, pa.string()),
    )


def _decode(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Bytes as text: UTF-8 when valid (nearly always), else Latin-1."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array(
            [None if v is None else v.decode("latin-1") for v in array.to_pylist()], pa.string()
        )


def _iter_parquet(
    path: Path, info: ExportInfo, chunk_rows: int, report: ValidationReport
) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(path)
    file_names = [info.columns[i] for i in info.positions.values()]
    start = 1
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=file_names):
        columns = {}
        for name, index in info.positions.items():
            array = batch.column(info.columns[index])
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            columns[name] = pc.cast(array, pa.string())
        columns["_row"] = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
        start += batch.num_rows
        report.bytes_read = int(info.size_bytes * min(1.0, start / max(1, _parquet_rows(parquet))))
        yield pa.table(columns)


def _parquet_rows(parquet: pq.ParquetFile) -> int:
    return parquet.metadata.num_rows


def _iter_xlsx(
    path: Path, info: ExportInfo, chunk_rows: int, report: ValidationReport
) -> Iterator[pa.Table]:
    import openpyxl

    names = list(info.positions)
    indices = [info.positions[n] for n in names]
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook[info.sheet]
        sheet.reset_dimensions()
        numbers: list[int] = []
        records: list[list[str | None]] = []
        first = info.header_row + 1
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number < first:
                continue
            if not any(v is not None and str(v).strip() for v in values):
                continue
            width = len(values)
            records.append([_cell_text(values[i]) if i < width else None for i in indices])
            numbers.append(number)
            if len(records) >= chunk_rows:
                yield _records_table(records, names, numbers)
                records, numbers = [], []
        if records:
            yield _records_table(records, names, numbers)
    finally:
        workbook.close()


def _records_table(
    records: list[list[str | None]],
    names: list[str],
    numbers: list[int],
) -> pa.Table:
    columns = {
        name: pa.array([r[i] for r in records], pa.string()) for i, name in enumerate(names)
    }
    columns["_row"] = pa.array(numbers, pa.int64())
    return pa.table(columns)


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


# --- vectorised parsing ------------------------------------------------------------------

_NULL_TEXT = pa.scalar(None, pa.string())


def _mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, missing as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def _per_distinct(values: pa.Array, parse: Any) -> pa.Array:
    """`parse` applied once per distinct value: KNRs, names, units and codes repeat a lot."""
    encoded = pc.dictionary_encode(values)
    return parse(encoded.dictionary).take(encoded.indices)


def _text(values: pa.Array) -> pa.Array:
    """Strip padding; blank becomes missing."""
    stripped = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    return pc.if_else(pc.equal(stripped, ""), _NULL_TEXT, stripped)


def _parse_float(text: pa.Array) -> pa.Array:
    """Parse decimal point or comma numbers; anything else becomes missing."""
    dotted = pc.replace_substring(text, ",", ".")
    valid = pc.fill_null(pc.match_substring_regex(dotted, _NUMBER_PATTERN), False)
    return pc.cast(pc.if_else(valid, dotted, _NULL_TEXT), pa.float64())


def _finite(numbers: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Infinite numbers (`1e309` overflows) as missing, and where they were."""
    infinite = _mask(pc.is_inf(numbers))
    if not infinite.any():
        return numbers, infinite
    return pc.if_else(pa.array(infinite), pa.scalar(None, pa.float64()), numbers), infinite


def _parse_integer(text: pa.Array) -> pa.Array:
    """Parse `2`, `" 2 "` and `2.0` alike; anything not a whole number becomes missing."""
    numbers = _parse_float(text)
    whole = pc.and_(
        pc.equal(numbers, pc.floor(numbers)), pc.less(pc.abs(numbers), float(2**62))
    )
    return pc.cast(
        pc.if_else(pc.fill_null(whole, False), numbers, pa.scalar(None, pa.float64())), pa.int64()
    )


def _parse_datetime(values: pa.Array) -> pa.Array:
    text = _text(values)
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
