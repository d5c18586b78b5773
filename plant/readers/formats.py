"""Read an export in chunks of raw text, whatever its format: CSV and gzip'd CSV (checked and
transcoded as they stream), .xlsx, Parquet. What to read comes from its sniff (`ExportInfo`)."""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from crossline.exceptions import InvalidUpload
from plant.readers.columns import REPEATED_COLUMNS
from plant.readers.report import REJECTED, ValidationReport
from plant.readers.sniff import ExportInfo, binary_message, check_unpacked

_BLOCK_BYTES = 1024 * 1024
_DICTIONARY = pa.dictionary(pa.int32(), pa.binary())
# Bytes the CSV reader parses at a time; chunks are then cut to the caller's row count.
_CSV_BLOCK_BYTES = 4 * 1024 * 1024


def iter_raw_tables(
    info: ExportInfo, *, chunk_rows: int, report: ValidationReport
) -> Iterator[pa.Table]:
    """Yield raw string chunks named by canonical column plus `_row` (the row in the file).

    From CSV the kind's repeating columns come dictionary-encoded (string dictionaries)."""
    if info.format == "parquet":
        chunks = _iter_parquet(info, chunk_rows, report)
    elif info.format == "xlsx":
        chunks = _iter_xlsx(info, chunk_rows, report)
    else:
        chunks = _iter_csv(info, report)
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

    def __init__(self, info: ExportInfo, report: ValidationReport) -> None:
        super().__init__()
        self._raw = info.path.open("rb")
        self._source = gzip.GzipFile(fileobj=self._raw) if info.format == "csv.gz" else self._raw
        self._info = info
        self._report = report
        self._limit = info.max_uncompressed_bytes
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
            check_unpacked(self._info.filename, self._unpacked, self._limit)
        if self._decoder is not None:
            block = self._decoder.decode(block, final=not block).encode("utf-8")
        if b"\x00" in block:
            raise InvalidUpload(binary_message(self._info.filename, "it contains binary data"))
        self._report.bytes_read = self._raw.tell()
        return block

    def close(self) -> None:
        self._source.close()
        self._raw.close()
        super().close()


def _iter_csv(info: ExportInfo, report: ValidationReport) -> Iterator[pa.Table]:
    names = sorted(info.positions, key=info.positions.__getitem__)
    repeated = set(REPEATED_COLUMNS[info.kind])
    width = len(info.columns)
    # Positional names: the file's own header may be blank, duplicated or cut short.
    positional = [f"c{i}" for i in range(width)]
    skipped: list[str] = []

    def skip_row(row: Any) -> str:
        skipped.append(row.text)
        return "skip"

    stream = _CheckedStream(info, report)
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
                # Repeating columns (KNRs, tests, codes, units) as dictionaries, built as
                # they are parsed: their strings are never materialised, and are decoded
                # and parsed once per distinct value.
                column_types={
                    positional[info.positions[n]]: _DICTIONARY if n in repeated else pa.binary()
                    for n in names
                },
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
    """Bytes as text: UTF-8 when valid (nearly always), else Latin-1; a dictionary's values
    only."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        return pa.DictionaryArray.from_arrays(array.indices, _decode(array.dictionary))
    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array(
            [None if v is None else v.decode("latin-1") for v in array.to_pylist()], pa.string()
        )


def _iter_parquet(
    info: ExportInfo, chunk_rows: int, report: ValidationReport
) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(info.path)
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


def _iter_xlsx(info: ExportInfo, chunk_rows: int, report: ValidationReport) -> Iterator[pa.Table]:
    import openpyxl

    names = list(info.positions)
    indices = [info.positions[n] for n in names]
    workbook = openpyxl.load_workbook(info.path, read_only=True, data_only=True)
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
