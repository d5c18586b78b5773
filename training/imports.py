"""Plant data: importing exports as datasets, deleting them, keeping vehicles up to date."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection
from django.utils import timezone

from crossline.bulk import insert_rows, update_rows
from crossline.domain import frame_codes, parse_framed_codes
from crossline.exceptions import DuplicateUpload, InvalidUpload
from crossline.uploads import uploaded_file_path
from training import ingest, records
from training.models import Dataset, DatasetKind, Vehicle, VehicleRecord
from training.pipeline.features import count_results
from training.selectors import json_pk, list_records
from training.signals import defects_imported

logger = logging.getLogger(__name__)

# An import still "importing" after this long died with its process (imports of tens of
# millions of rows take minutes, not hours); the next import removes what it left behind.
STALE_IMPORT_AFTER = timedelta(hours=6)
# KNRs per query when vehicles are recomputed: bounds both memory and the size of `knr__in`.
VEHICLE_BATCH = 1_000
RECORD_BATCH = 1_000
_HASH_BLOCK = 1024 * 1024

ProgressCallback = Callable[[int, int | None], None]


def import_dataset(
    *,
    path: Path,
    original_name: str,
    kind: str,
    user: Any = None,
    on_progress: ProgressCallback | None = None,
    chunk_rows: int = ingest.DEFAULT_CHUNK_ROWS,
) -> Dataset:
    """Import one plant export: validate, keep its rows as Parquet, refresh its vehicles.

    `on_progress(rows_read, rows_expected)` is called after every chunk (`rows_expected` is
    estimated from the share of the file read so far). Raises InvalidUpload, with nothing
    stored, for a refused file (or for rows already imported, whatever their order or
    compression); any failure half-way removes everything the import wrote before re-raising.
    """
    if kind not in ingest.KINDS:
        raise InvalidUpload(f"Unknown export kind {kind!r}; use one of {', '.join(ingest.KINDS)}.")
    clean_stale_imports()
    path = Path(path)
    info = ingest.sniff_export(
        path,
        filename=original_name,
        kind=kind,
        max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.CROSSLINE_MAX_UNCOMPRESSED_BYTES,
    )
    sha256 = _file_sha256(path)
    _refuse_duplicate(sha256, original_name)

    try:
        dataset = Dataset.objects.create(
            kind=kind,
            original_name=original_name[:255],
            size_bytes=info.size_bytes,
            sha256=sha256,
            uploaded_by=user if user is not None and user.is_authenticated else None,
        )
    except IntegrityError:
        # Another upload of the same file won the race between the check and the insert.
        _refuse_duplicate(sha256, original_name)
        raise

    touched: set[str] = set()
    pending = PendingRecords(dataset)
    try:
        _import_rows(
            dataset,
            path,
            info,
            touched=touched,
            pending=pending,
            on_progress=on_progress,
            chunk_rows=chunk_rows,
        )
        refresh_vehicles(touched, pending=pending)
        refresh_query_statistics()
    except BaseException:
        _remove_dataset(dataset, knrs=touched)
        raise
    if kind == DatasetKind.DEFECTS:
        defects_imported.send(sender=Dataset, dataset=dataset, knrs=sorted(touched))
    dataset.refresh_from_db()
    return dataset


def import_uploaded_file(*, upload: UploadedFile, kind: str, user: Any = None) -> Dataset:
    """Import an uploaded export (admin or API); small uploads are spooled to disk first."""
    with uploaded_file_path(upload) as path:
        return import_dataset(
            path=path, original_name=upload.name or "upload", kind=kind, user=user
        )


def delete_dataset(*, dataset: Dataset) -> None:
    """Delete a dataset with its stored file and records, and recompute its vehicles."""
    knrs = set(VehicleRecord.objects.filter(dataset_id=dataset.pk).values_list("knr", flat=True))
    _remove_dataset(dataset, knrs=knrs)


def clean_stale_imports(*, older_than: timedelta = STALE_IMPORT_AFTER) -> int:
    """Remove imports that died with their process (still importing long after they began)."""
    cutoff = timezone.now() - older_than
    stale = list(Dataset.objects.filter(status=Dataset.Status.IMPORTING, uploaded_at__lt=cutoff))
    for dataset in stale:
        logger.warning("Removing stale import %s (%s)", dataset.pk, dataset.original_name)
        delete_dataset(dataset=dataset)
    return len(stale)


def refresh_vehicles(knrs: Iterable[str], *, pending: PendingRecords | None = None) -> None:
    """Recompute each KNR's Vehicle from the records of ready datasets; drop orphans.

    `pending` holds the summaries of the records an import just wrote, so that they are not
    read back from the database.
    """
    ordered = sorted(set(knrs))
    for begin in range(0, len(ordered), VEHICLE_BATCH):
        batch = ordered[begin : begin + VEHICLE_BATCH]
        if pending is None:
            _refresh_vehicle_batch(batch)
        else:
            _refresh_vehicle_batch(batch, pending)


class PendingRecords:
    """Summaries of the records one import wrote (KNR, times, counts), kept as arrays."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset_id = dataset.pk
        self.kind = dataset.kind
        self._parts: list[pd.DataFrame] = []
        self._frame: pd.DataFrame | None = None

    def add(self, chunk: records.ChunkRecords) -> None:
        self._parts.append(
            pd.DataFrame(
                {
                    "knr": chunk.knrs,
                    "first_at": chunk.first_at,
                    "last_at": chunk.last_at,
                    "row_count": chunk.row_count,
                    "nok_count": chunk.nok_count,
                    "codes": chunk.fail_group_codes,
                }
            )
        )

    def rows(self, knrs: list[str]) -> Iterator[tuple]:
        """Record-like tuples for these KNRs, as `_refresh_vehicle_batch` reads them."""
        if self._frame is None:
            self._frame = pd.concat(self._parts, ignore_index=True).set_index("knr").sort_index()
            self._parts = []
        # Batches come in KNR order over the import's own KNRs: a slice of the sorted frame,
        # found by bisection (a membership test per batch would make the refresh quadratic).
        index = self._frame.index
        part = self._frame.iloc[
            index.searchsorted(min(knrs), "left") : index.searchsorted(max(knrs), "right")
        ]
        part = part[part.index.isin(knrs)]
        tz = timezone.get_default_timezone()
        first = _aware_list(part["first_at"].to_numpy(), tz)
        last = _aware_list(part["last_at"].to_numpy(), tz)
        for i, (knr, row_count, nok_count, codes) in enumerate(
            zip(
                part.index.tolist(),
                part["row_count"].tolist(),
                part["nok_count"].tolist(),
                part["codes"].tolist(),
                strict=True,
            )
        ):
            yield (knr, self.dataset_id, self.kind, first[i], last[i], row_count, nok_count, codes)


def stored_dataset_name(dataset: Dataset) -> str:
    """Where a dataset's Parquet file lives in storage."""
    return f"datasets/{dataset.kind}/{dataset.pk}.parquet"


# --- import internals -------------------------------------------------------------------------


def _import_rows(
    dataset: Dataset,
    path: Path,
    info: ingest.ExportInfo,
    *,
    touched: set[str],
    pending: PendingRecords,
    on_progress: ProgressCallback | None,
    chunk_rows: int,
) -> None:
    """Stream the export into records and a local Parquet file, then store the file."""
    kind = dataset.kind
    report = ingest.ValidationReport(kind=kind, filename=dataset.original_name)
    first_at: Any = None
    last_at: Any = None
    with tempfile.TemporaryDirectory(prefix="crossline-import-") as tmp:
        local = Path(tmp) / "data.parquet"
        writer = pq.ParquetWriter(local, ingest.SCHEMAS[kind], compression="zstd")
        try:
            tables = ingest.iter_clean_tables(
                path,
                filename=dataset.original_name,
                kind=kind,
                report=report,
                chunk_rows=chunk_rows,
                max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
                max_uncompressed_bytes=settings.CROSSLINE_MAX_UNCOMPRESSED_BYTES,
                dates=plausible_dates(),
            )
            # The next chunk is read and grouped (Arrow, mostly without the GIL) while this
            # one is written to the database: the two halves use both cores.
            chunks = ((t, records.chunk_records(t, kind=kind)) for t in tables)
            for table, chunk in _read_ahead(chunks):
                writer.write_table(table)
                _create_records(dataset, chunk, touched)
                pending.add(chunk)
                low, high = chunk.first_at.min(), chunk.last_at.max()
                first_at = low if first_at is None else min(first_at, low)
                last_at = high if last_at is None else max(last_at, high)
                rows_expected = _rows_expected(report, info.size_bytes)
                Dataset.objects.filter(pk=dataset.pk).update(
                    progress=_percent(report.rows_read, rows_expected),
                    rows_read=report.rows_read,
                    rows_accepted=report.rows_accepted,
                )
                if on_progress is not None:
                    on_progress(report.rows_read, rows_expected)
        finally:
            writer.close()
        report.refuse_if_nothing_accepted()
        _refuse_duplicate_content(dataset, report.content_fingerprint())
        name = stored_dataset_name(dataset)
        with local.open("rb") as handle:
            dataset.file = default_storage.save(name, File(handle, name=name))

    dataset.status = Dataset.Status.READY
    dataset.progress = 100
    dataset.rows_read = report.rows_read
    dataset.rows_accepted = report.rows_accepted
    dataset.rows_rejected = report.rows_rejected
    dataset.rows_dropped = report.rows_dropped
    dataset.values_unparseable = report.values_unparseable
    dataset.knr_count = len(touched)
    dataset.first_at = _aware(first_at)
    dataset.last_at = _aware(last_at)
    dataset.report = report.to_dict()
    dataset.finished_at = timezone.now()
    dataset.save()


def _read_ahead[T](items: Iterator[T]) -> Iterator[T]:
    """Yield `items`, produced one ahead on a thread of their own; errors re-raised here."""
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(("error", exc))

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            what, value = ready.get()
            if what == "done":
                return
            if what == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)  # unblock a producer waiting to put
        thread.join()


def plausible_dates() -> tuple[datetime, datetime]:
    """The window of plausible plant timestamps (naive, in TIME_ZONE) for an import now."""
    latest = timezone.localtime().replace(tzinfo=None)
    return settings.CROSSLINE_EARLIEST_DATE, latest + timedelta(
        days=settings.CROSSLINE_DAYS_AHEAD
    )


def refresh_query_statistics() -> None:
    """Give SQLite's planner current statistics, so that lookups by KNR use the KNR index."""
    if connection.vendor != "sqlite":
        return  # MongoDB's planner tries candidate indexes itself.
    with connection.cursor() as cursor:
        # A sampled ANALYZE: its cost stays bounded whatever the tables' size.
        cursor.execute("PRAGMA analysis_limit=1000")
        cursor.execute("ANALYZE")


def _create_records(dataset: Dataset, chunk: records.ChunkRecords, touched: set[str]) -> None:
    """Store one chunk's rows as one VehicleRecord per KNR (rows as JSON text, for its page)."""
    tz = timezone.get_default_timezone()
    first = _aware_list(chunk.first_at, tz)
    last = _aware_list(chunk.last_at, tz)
    rows = [
        (knr, dataset.pk, dataset.kind, first[i], last[i], row_count, nok_count,
         chunk.fail_group_codes[i], chunk.columns, chunk.rows_json[i])
        for i, (knr, row_count, nok_count) in enumerate(
            zip(chunk.knrs, chunk.row_count.tolist(), chunk.nok_count.tolist(), strict=True)
        )
    ]
    for begin in range(0, len(rows), RECORD_BATCH):
        insert_rows(VehicleRecord, RECORD_FIELDS, rows[begin : begin + RECORD_BATCH])
    touched.update(chunk.knrs)


RECORD_FIELDS = (
    "knr", "dataset_id", "kind", "first_at", "last_at", "row_count", "nok_count",
    "fail_group_codes", "columns", "rows_json",
)


def _aware_list(stamps: np.ndarray, tz: Any) -> list[datetime | None]:
    """Naive datetime64 plant times as aware datetimes in TIME_ZONE."""
    return [
        None if value is None else timezone.make_aware(value, tz)
        for value in stamps.astype("datetime64[us]").tolist()
    ]


def _rows_expected(report: ingest.ValidationReport, size_bytes: int) -> int | None:
    """The file's rows, estimated from the share of its bytes read so far."""
    if not report.bytes_read:
        return None
    return max(report.rows_read, round(report.rows_read * size_bytes / report.bytes_read))


def _remove_dataset(dataset: Dataset, *, knrs: Iterable[str]) -> None:
    """Delete a dataset's records, stored file and row, then recompute the given vehicles."""
    VehicleRecord.objects.filter(dataset_id=dataset.pk).delete()
    for name in {dataset.file, stored_dataset_name(dataset)} - {""}:
        try:
            default_storage.delete(name)
        except FileNotFoundError:
            pass
        except Exception:
            logger.exception("Could not delete stored file %s of dataset %s", name, dataset.pk)
    Dataset.objects.filter(pk=dataset.pk).delete()
    refresh_vehicles(knrs)


def _refuse_duplicate(sha256: str, original_name: str) -> None:
    existing = Dataset.objects.filter(sha256=sha256).first()
    if existing is not None:
        when = timezone.localtime(existing.uploaded_at).strftime("%Y-%m-%d %H:%M")
        raise DuplicateUpload(
            f"{original_name} was already imported as dataset {existing.pk} "
            f"({existing.original_name}) on {when}."
        )


def _refuse_duplicate_content(dataset: Dataset, fingerprint: str) -> None:
    """Refuse rows already imported, whatever their order, compression or file format."""
    Dataset.objects.filter(pk=dataset.pk).update(content_sha256=fingerprint)
    # Checked after this import's own fingerprint is written: of two imports of the same
    # rows racing each other, at least one sees the other and refuses (both may: safe side).
    earlier = (
        Dataset.objects.filter(content_sha256=fingerprint, kind=dataset.kind)
        .exclude(pk=dataset.pk)
        .order_by("uploaded_at")
        .first()
    )
    if earlier is not None:
        when = timezone.localtime(earlier.uploaded_at).strftime("%Y-%m-%d %H:%M")
        raise InvalidUpload(
            f"{dataset.original_name} holds the same rows as dataset {earlier.pk} "
            f"({earlier.original_name}), already imported on {when}."
        )
    dataset.content_sha256 = fingerprint


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _percent(done: int, expected: int | None) -> int:
    if not expected:
        return 0
    # 100 is reserved for a finished import.
    return min(99, int(done * 100 / expected))


def _aware(value: Any) -> datetime | None:
    """A naive plant timestamp (numpy or pandas) as an aware datetime in TIME_ZONE."""
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value).to_pydatetime()
    return timezone.make_aware(stamp, timezone.get_default_timezone())


# --- vehicles ---------------------------------------------------------------------------------


def _ready_dataset_ids() -> list[Any]:
    return list(Dataset.objects.filter(status=Dataset.Status.READY).values_list("pk", flat=True))


def _refresh_vehicle_batch(knrs: list[str], pending: PendingRecords | None = None) -> None:
    ready = set(_ready_dataset_ids())
    summaries: dict[str, dict[str, Any]] = {}
    result_records: dict[str, int] = {}
    # A KNR has a handful of records; those of unfinished imports are skipped below.
    stored = list_records(knrs)
    if pending is not None:
        # The import's own records are summed from memory, not read back.
        stored = stored.exclude(dataset_id=pending.dataset_id)
    rows: Iterable[tuple] = stored.values_list(
        "knr",
        "dataset_id",
        "kind",
        "first_at",
        "last_at",
        "row_count",
        "nok_count",
        "fail_group_codes",
    )
    if pending is not None:
        rows = itertools.chain(rows, pending.rows(knrs))
    for knr, dataset_id, kind, first_at, last_at, row_count, nok_count, codes in rows:
        if dataset_id not in ready:
            continue
        summary = summaries.get(knr)
        if summary is None:
            summary = summaries[knr] = {
                "first_test_at": None,
                "last_test_at": None,
                "test_count": 0,
                "nok_count": 0,
                "defect_count": 0,
                "groups": set(),
                "dataset_ids": set(),
            }
        summary["dataset_ids"].add(dataset_id)
        if kind == DatasetKind.RESULTS:
            result_records[knr] = result_records.get(knr, 0) + 1
            summary["test_count"] += row_count
            summary["nok_count"] += nok_count
            if first_at is not None and (
                summary["first_test_at"] is None or first_at < summary["first_test_at"]
            ):
                summary["first_test_at"] = first_at
            if last_at is not None and (
                summary["last_test_at"] is None or last_at > summary["last_test_at"]
            ):
                summary["last_test_at"] = last_at
        else:
            summary["defect_count"] += row_count
            summary["groups"].update(parse_framed_codes(codes))

    _count_overlapping_results(
        summaries, [knr for knr, count in result_records.items() if count > 1], ready
    )
    existing = {v.knr: v for v in Vehicle.objects.filter(knr__in=knrs)}
    gone = [v.pk for knr, v in existing.items() if knr not in summaries]
    if gone:
        Vehicle.objects.filter(pk__in=gone).delete()
    to_create: list[tuple] = []
    changes: dict[Any, dict[str, Any]] = {}
    now = timezone.now()
    for knr, summary in summaries.items():
        fields = {
            "first_test_at": summary["first_test_at"],
            "last_test_at": summary["last_test_at"],
            "test_count": summary["test_count"],
            "nok_count": summary["nok_count"],
            "defect_count": summary["defect_count"],
            "has_defects": bool(summary["groups"]),
            "fail_group_codes": frame_codes(summary["groups"]),
            "dataset_ids": sorted(json_pk(pk) for pk in summary["dataset_ids"]),
        }
        vehicle = existing.get(knr)
        if vehicle is None:
            to_create.append((knr, *(fields[name] for name in VEHICLE_FIELDS[1:-1]), now))
        elif any(getattr(vehicle, name) != value for name, value in fields.items()):
            changes[vehicle.pk] = fields
    if to_create:
        insert_rows(Vehicle, VEHICLE_FIELDS, to_create)
    # One update per changed vehicle (bulk_update's CASE/$switch expression grows with the
    # batch and is evaluated for every row: quadratic).
    changed = [
        (pk, *(fields[name] for name in VEHICLE_FIELDS[1:-1]), now)
        for pk, fields in changes.items()
    ]
    update_rows(Vehicle, VEHICLE_FIELDS[1:], changed)


def _count_overlapping_results(
    summaries: dict[str, dict[str, Any]], knrs: list[str], ready: set[Any]
) -> None:
    """Recount the results of KNRs stored in several records (overlapping exports), once each."""
    if not knrs:
        return
    rows: dict[str, list[dict[str, Any]]] = {knr: [] for knr in knrs}
    stored = list_records(knrs).values_list("knr", "kind", "dataset_id", "columns", "rows_json")
    for knr, kind, dataset_id, columns, rows_json in stored:
        if kind != DatasetKind.RESULTS or dataset_id not in ready:
            continue
        rows[knr].extend(dict(zip(columns, row, strict=False)) for row in json.loads(rows_json))
    for knr, vehicle_rows in rows.items():
        summaries[knr]["test_count"], summaries[knr]["nok_count"] = count_results(vehicle_rows)


VEHICLE_FIELDS = (
    "knr", "first_test_at", "last_test_at", "test_count", "nok_count", "defect_count",
    "has_defects", "fail_group_codes", "dataset_ids", "updated_at",
)
