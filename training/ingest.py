"""Read plant exports (CSV, gzip'd CSV, xlsx, Parquet) in bounded memory and normalise them."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crossline.domain import KNR_FORMAT, KNR_PATTERN, NO_GROUP_CODE, NO_GROUP_TEXT
from crossline.exceptions import InvalidUpload

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

STATUS_OK = 10
STATUS_NOK = 13

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_CHUNK_ROWS = 250_000
# A title or junk row above the header is common; a header further down is not an export.
HEADER_SCAN_ROWS = 10
MAX_EXAMPLES = 5
_HEAD_BYTES = 256 * 1024
_BLOCK_BYTES = 1024 * 1024

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

    def add_problem(
        self,
        reason: str,
        *,
        field: str,
        action: str,
        rows: pd.Series,
        values: pd.Series,
    ) -> None:
        """Count `len(rows)` occurrences of `reason`, keeping the first few as examples."""
        if len(rows) == 0:
            return
        problem = self.problems.setdefault(reason, ProblemCount(field=field, action=action))
        problem.count += len(rows)
        room = MAX_EXAMPLES - len(problem.examples)
        for row, value in zip(rows.iloc[:room], values.iloc[:room], strict=True):
            problem.examples.append(
                {"row": int(row), "field": field, "value": None if pd.isna(value) else str(value)}
            )

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
) -> ExportInfo:
    """Check a whole export before any row is read; raise InvalidUpload naming the problem."""
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise InvalidUpload(f"{filename} is empty.")
    if size > max_bytes:
        raise InvalidUpload(f"{filename} is {size:,} bytes, over the limit of {max_bytes:,} bytes.")
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(b"PAR1"):
        return _sniff_parquet(path, filename=filename, kind=kind, size=size)
    if magic.startswith(b"PK\x03\x04"):
        return _sniff_xlsx(path, filename=filename, kind=kind, size=size)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise InvalidUpload(
            f"{filename} is an old binary Excel (.xls) file; save it as .xlsx or CSV."
        )
    gzipped = magic.startswith(b"\x1f\x8b")
    return _sniff_text(path, filename=filename, kind=kind, size=size, gzipped=gzipped)


def iter_clean_chunks(
    path: str | Path,
    *,
    filename: str,
    kind: str,
    report: ValidationReport,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[pd.DataFrame]:
    """Yield the export's accepted rows in the normalised schema, chunk by chunk."""
    # Sniffing runs on the first next(), so a refused file raises before any row is yielded.
    info = sniff_export(path, filename=filename, kind=kind, max_bytes=max_bytes)
    for raw in _iter_raw_chunks(Path(path), info, chunk_rows):
        clean = normalise_chunk(raw, kind=kind, report=report)
        if len(clean):
            yield clean


def normalise_chunk(raw: pd.DataFrame, *, kind: str, report: ValidationReport) -> pd.DataFrame:
    """Parse one chunk of raw strings (plus a `_row` column) into the normalised schema."""
    rows = raw["_row"]
    report.rows_read += len(raw)
    bad = pd.Series(False, index=raw.index)
    out: dict[str, pd.Series] = {}

    def reject(mask: pd.Series, reason: str, column: str) -> None:
        nonlocal bad
        report.add_problem(
            reason,
            field=column,
            action=REJECTED,
            rows=rows[mask],
            values=raw[column][mask],
        )
        bad = bad | mask

    knr = _strip(raw["KNR"])
    reject(
        ~knr.str.fullmatch(KNR_PATTERN).fillna(False).astype(bool),
        f"KNR is not of the form {KNR_FORMAT}",
        "KNR",
    )
    out["KNR"] = knr

    data = _parse_datetime(raw["DATA"])
    reject(data.isna(), "DATA is not a date and time", "DATA")

    dropped = pd.Series(False, index=raw.index)
    if kind == RESULTS:
        name = _strip(raw["NAME"])
        reject(name.isna(), "NAME is blank", "NAME")
        ident = _parse_integer(raw["ID"])
        reject(ident.isna(), "ID is not an integer", "ID")
        status = _parse_integer(raw["STATUS"])
        reject(~status.isin([STATUS_OK, STATUS_NOK]), "STATUS is not 10 (OK) or 13 (NOK)", "STATUS")
        value_text = _strip(raw["VALUE"])
        value = _parse_float(value_text)
        unparseable = value.isna() & value_text.notna()
        out.update(
            NAME=name,
            ID=ident,
            STATUS=status,
            UNIT=_strip(raw["UNIT"]),
            VALUE_ID=_parse_float(_strip(raw["VALUE_ID"])),
            VALUE=value,
        )
    else:
        for column in DEFECT_TEXT_COLUMNS:
            out[column] = (
                _strip(raw[column])
                if column in raw
                else pd.Series(np.nan, index=raw.index, dtype="str")
            )
        code_text = _strip(raw["S_GROUP_ID"]).str.strip("\"'").str.strip()
        group = _parse_integer(code_text)
        dropped = (group == NO_GROUP_CODE).fillna(False).astype(bool) | code_text.str.upper().eq(
            NO_GROUP_TEXT
        ).fillna(False).astype(bool)
        reject(group.isna() & ~dropped, "S_GROUP_ID is not a fail group code", "S_GROUP_ID")
        out["S_GROUP_ID"] = group
        unparseable = pd.Series(False, index=raw.index)
    out["DATA"] = data

    # A rejected row is counted once as rejected, even when it is also a no-group row.
    dropped = dropped & ~bad
    keep = ~(bad | dropped)
    unparseable = unparseable & keep
    if kind == DEFECTS:
        report.add_problem(
            f"S_GROUP_ID is {NO_GROUP_CODE} or {NO_GROUP_TEXT} (no fail group)",
            field="S_GROUP_ID",
            action=DROPPED,
            rows=rows[dropped],
            values=raw["S_GROUP_ID"][dropped],
        )
    else:
        report.add_problem(
            "VALUE is not a number (kept as empty)",
            field="VALUE",
            action=KEPT,
            rows=rows[unparseable],
            values=raw["VALUE"][unparseable],
        )
    report.values_unparseable += int(unparseable.sum())
    report.rows_rejected += int(bad.sum())
    report.rows_dropped += int(dropped.sum())
    report.rows_accepted += int(keep.sum())

    frame = pd.DataFrame({c: out[c][keep] for c in OUTPUT_COLUMNS[kind]})
    return _cast(frame.reset_index(drop=True), kind)


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
    encoding = _check_text(path, filename=filename, gzipped=gzipped)
    with _open_binary(path, gzipped) as f:
        head = f.read(_HEAD_BYTES)
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


def _check_text(path: Path, *, filename: str, gzipped: bool) -> str:
    """Stream the whole file once: refuse binary content, choose UTF-8 or else Latin-1."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    try:
        with _open_binary(path, gzipped) as f:
            first = True
            while block := f.read(_BLOCK_BYTES):
                if b"\x00" in block:
                    raise InvalidUpload(
                        f"{filename} is not a text export (it contains binary data); "
                        "send CSV, gzip'd CSV, .xlsx or Parquet."
                    )
                if first and _mostly_control(block):
                    raise InvalidUpload(
                        f"{filename} is not a text export (unreadable characters); "
                        "send CSV, gzip'd CSV, .xlsx or Parquet."
                    )
                first = False
                if utf8:
                    try:
                        decoder.decode(block, final=False)
                    except UnicodeDecodeError:
                        utf8 = False
            if utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidUpload(f"{filename} is not a readable gzip file: {exc}.") from exc
    # Latin-1 decodes any byte, so it is the fallback for exports from older Windows tools.
    return "utf-8-sig" if utf8 else "latin-1"


def _mostly_control(block: bytes) -> bool:
    sample = block[:_HEAD_BYTES]
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


def _iter_raw_chunks(path: Path, info: ExportInfo, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield raw string chunks named by canonical column plus `_row` (the row in the file)."""
    if info.format == "parquet":
        yield from _iter_parquet(path, info, chunk_rows)
    elif info.format == "xlsx":
        yield from _iter_xlsx(path, info, chunk_rows)
    else:
        yield from _iter_csv(path, info, chunk_rows)


def _iter_csv(path: Path, info: ExportInfo, chunk_rows: int) -> Iterator[pd.DataFrame]:
    names = sorted(info.positions, key=info.positions.__getitem__)
    usecols = [info.positions[n] for n in names]
    try:
        reader = pd.read_csv(
            path,
            sep=info.sep,
            header=None,
            # Fixed names make short and long rows parse instead of failing the whole chunk.
            names=range(len(info.columns)),
            index_col=False,
            usecols=usecols,
            skiprows=info.header_row + 1,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            encoding=info.encoding,
            compression="gzip" if info.format == "csv.gz" else None,
            chunksize=chunk_rows,
            engine="c",
            low_memory=True,
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidUpload(f"{info.filename} could not be read: {exc}") from exc
    # Row numbers are 1-based file lines (the header's line + 1 + data row index); blank
    # lines or quoted newlines inside a field shift them, an accepted approximation.
    first_line = info.header_row + 2
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
                raise InvalidUpload(f"{info.filename} could not be read: {exc}") from exc
            chunk = chunk.rename(columns=dict(zip(usecols, names, strict=True)))
            chunk["_row"] = chunk.index.to_numpy() + first_line
            yield chunk


def _iter_parquet(path: Path, info: ExportInfo, chunk_rows: int) -> Iterator[pd.DataFrame]:
    parquet = pq.ParquetFile(path)
    file_names = [info.columns[i] for i in info.positions.values()]
    start = 1
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=file_names):
        columns = {}
        for name, index in info.positions.items():
            array = batch.column(info.columns[index])
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            columns[name] = pd.Series(pc.cast(array, pa.string()).to_pandas(), dtype="str")
        chunk = pd.DataFrame(columns)
        chunk["_row"] = np.arange(start, start + len(chunk))
        start += len(chunk)
        yield chunk


def _iter_xlsx(path: Path, info: ExportInfo, chunk_rows: int) -> Iterator[pd.DataFrame]:
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
                yield _records_frame(records, names, numbers)
                records, numbers = [], []
        if records:
            yield _records_frame(records, names, numbers)
    finally:
        workbook.close()


def _records_frame(
    records: list[list[str | None]],
    names: list[str],
    numbers: list[int],
) -> pd.DataFrame:
    chunk = pd.DataFrame(records, columns=names, dtype="str")
    chunk["_row"] = np.asarray(numbers, dtype=np.int64)
    return chunk


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


# --- vectorised parsing ------------------------------------------------------------------


def _strip(values: pd.Series) -> pd.Series:
    """Strip padding; blank becomes missing."""
    stripped = values.astype("str").str.strip()
    return stripped.mask(stripped.eq("").fillna(True).astype(bool))


def _parse_float(text: pd.Series) -> pd.Series:
    """Parse decimal point or comma numbers; anything else becomes NaN (Arrow: 10x to_numeric)."""
    array = pa.array(text.astype("str"), type=pa.large_string(), from_pandas=True)
    array = pc.replace_substring(array, ",", ".")
    valid = pc.fill_null(pc.match_substring_regex(array, _NUMBER_PATTERN), False)
    numbers = pc.cast(pc.if_else(valid, array, pa.scalar(None, pa.large_string())), pa.float64())
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _parse_integer(values: pd.Series) -> pd.Series:
    """Parse `2`, `" 2 "` and `2.0` alike; anything not a whole number becomes missing."""
    numbers = _parse_float(_strip(values))
    whole = numbers.notna() & (numbers == np.round(numbers)) & (numbers.abs() < 2**62)
    return numbers.where(whole).astype("Int64")


def _parse_datetime(values: pd.Series) -> pd.Series:
    text = _strip(values)
    plausible = text.str.fullmatch(_DATETIME_PATTERN).fillna(False).astype(bool)
    parsed = pd.to_datetime(text.where(plausible), format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[ms]")


def _cast(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    for name in ("ID", "STATUS", "S_GROUP_ID"):
        if name in frame:
            frame[name] = frame[name].astype("int64")
    for name, dtype in zip(SCHEMAS[kind].names, SCHEMAS[kind].types, strict=True):
        if dtype == pa.string():
            frame[name] = frame[name].astype("str")
    return frame
