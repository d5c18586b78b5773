"""Import plant exports as datasets: one way through, sniffed once, read in chunks, validated,
written (records, a Parquet copy, vehicles); queued for a worker when large; deleted."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection
from django.utils import timezone
from django_q.tasks import async_task

from crossline.beat import Heartbeat
from crossline.bulk import insert_columns
from crossline.exceptions import DuplicateUpload, InvalidUpload
from crossline.uploads import uploaded_file_path
from plant import files, reaper, vehicles
from plant.models import Dataset, DatasetKind, VehicleRecord
from plant.readahead import read_ahead
from plant.readers.columns import KINDS, REPEATED_COLUMNS, SCHEMAS
from plant.readers.records import ChunkRecords, chunk_records, text_dictionaries
from plant.readers.report import ValidationReport
from plant.readers.sniff import ExportInfo, sniff_export
from plant.readers.validation import DEFAULT_CHUNK_ROWS, iter_clean_tables
from plant.signals import defects_imported, results_imported
from plant.times import aware, aware_index, plausible_dates

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
FINISHED_FIELDS = (
    "status", "progress", "rows_read", "rows_accepted", "rows_rejected", "rows_dropped",
    "values_unparseable", "knr_count", "first_at", "last_at", "report", "file", "finished_at",
)


class ImportAbandoned(Exception):
    """The reaper failed the import while it ran: it stops at its next write, and what it
    wrote is removed."""


def import_dataset(
    *,
    path: Path,
    original_name: str,
    kind: str,
    user: Any = None,
    on_progress: ProgressCallback | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Dataset:
    """Import one plant export: validate, keep its rows as Parquet, refresh its vehicles.

    `on_progress(rows_read, rows_expected)` is called after every chunk (`rows_expected` is
    estimated from the share of the file read so far). Raises InvalidUpload, with nothing
    stored, for a refused file (or for rows already imported, whatever their order or
    compression); any failure half-way removes everything the import wrote before re-raising.
    """
    info = _check_export(Path(path), original_name=original_name, kind=kind)
    dataset = _create_dataset(
        info, sha256=files.file_sha256(info.path), user=user, status=Dataset.Status.IMPORTING
    )
    try:
        return _import_into(dataset, info, on_progress=on_progress, chunk_rows=chunk_rows)
    except BaseException:
        Dataset.objects.filter(pk=dataset.pk).delete()
        raise


def import_uploaded_file(*, upload: UploadedFile, kind: str, user: Any = None) -> Dataset:
    """Import an upload (admin or API): within the request when small, else by a worker. A
    large upload is checked (format, columns, size, duplicate), stored, queued, and its dataset
    returned with a `task_id`; its status, progress and rows read follow the import.
    """
    name = upload.name or "upload"
    with uploaded_file_path(upload) as path:
        if path.stat().st_size <= settings.CROSSLINE_IMPORT_INLINE_BYTES:
            return import_dataset(path=path, original_name=name, kind=kind, user=user)
        return queue_import(path=path, original_name=name, kind=kind, user=user)


def queue_import(*, path: Path, original_name: str, kind: str, user: Any = None) -> Dataset:
    """Check an export, store it and queue its import for a worker; the dataset is `queued`."""
    info = _check_export(Path(path), original_name=original_name, kind=kind)
    dataset = _create_dataset(info, sha256=files.file_sha256(info.path), user=user,
                              status=Dataset.Status.QUEUED)
    try:
        with info.path.open("rb") as handle:
            # File(), not the bytes: storage copies it in chunks, so a 2 GB export is streamed.
            source = default_storage.save(files.source_name(dataset), File(handle))
        Dataset.objects.filter(pk=dataset.pk).update(source_file=source)
        task_id = async_task(
            "plant.tasks.run_queued_import", str(dataset.pk), task_name=f"import-{dataset.pk}"
        )
    except BaseException:
        dataset.refresh_from_db()
        reaper.discard_import(dataset)
        Dataset.objects.filter(pk=dataset.pk).delete()
        raise
    # A worker may have claimed it already; the task id alone is written here.
    Dataset.objects.filter(pk=dataset.pk).update(task_id=str(task_id or ""))
    dataset.refresh_from_db()
    return dataset


def run_queued_import(dataset_id: Any) -> Dataset | None:
    """Import a queued dataset's stored upload (a worker's entry point); None if not queued.

    A refused or failed import keeps its dataset, `failed` with the reason, and nothing else.
    The request that queued it checked the upload; the worker sniffs its own copy once.
    """
    claimed = Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.QUEUED).update(
        status=Dataset.Status.IMPORTING, heartbeat_at=timezone.now()
    )
    if claimed != 1:
        # Imported, failed or reaped meanwhile, or taken by another worker: never twice.
        return None
    dataset = Dataset.objects.get(pk=dataset_id)
    try:
        with files.import_folder(dataset) as folder:
            local = folder / f"upload{''.join(Path(dataset.original_name).suffixes[-2:])}"
            with default_storage.open(dataset.source_file, "rb") as stored, local.open("wb") as out:
                shutil.copyfileobj(stored, out, length=files.HASH_BLOCK)
            dataset = _import_into(dataset, _sniff(local, dataset.original_name, dataset.kind))
    except BaseException as exc:
        # Not over the reaper's word (already failed); over a "ready" whose last step failed.
        Dataset.objects.filter(pk=dataset.pk).exclude(status=Dataset.Status.FAILED).update(
            status=Dataset.Status.FAILED, error=str(exc) or type(exc).__name__,
            progress=0, finished_at=timezone.now(),
        )
        raise
    finally:
        files.delete_stored(dataset.source_file, dataset)
        Dataset.objects.filter(pk=dataset.pk).update(source_file="")
    return dataset


def delete_dataset(*, dataset: Dataset) -> None:
    """Delete a dataset with its stored file and records, and recompute its vehicles."""
    reaper.discard_import(dataset)
    Dataset.objects.filter(pk=dataset.pk).delete()


def _check_export(path: Path, *, original_name: str, kind: str) -> ExportInfo:
    """Refuse an unknown kind or a file the reader cannot take, before anything is stored;
    what the sniff found is all the import reads the file with."""
    if kind not in KINDS:
        raise InvalidUpload(f"Unknown export kind {kind!r}; use one of {', '.join(KINDS)}.")
    reaper.reap_stale_imports()
    return _sniff(path, original_name, kind)


def _sniff(path: Path, original_name: str, kind: str) -> ExportInfo:
    return sniff_export(
        path,
        filename=original_name,
        kind=kind,
        max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.CROSSLINE_MAX_UNCOMPRESSED_BYTES,
    )


def _create_dataset(info: ExportInfo, *, sha256: str, user: Any, status: str) -> Dataset:
    """The dataset row of a new import; InvalidUpload if the same file was imported."""
    _refuse_duplicate(sha256, info.filename)
    fields = {
        "kind": info.kind,
        "original_name": info.filename[:255],
        "size_bytes": info.size_bytes,
        "sha256": sha256,
        "status": status,
        "heartbeat_at": timezone.now(),
        "uploaded_by": user if user is not None and user.is_authenticated else None,
    }
    try:
        return Dataset.objects.create(**fields)
    except IntegrityError:
        # Another upload of the same file won the race between the check and the insert.
        _refuse_duplicate(sha256, info.filename)
        raise


def _import_into(
    dataset: Dataset,
    info: ExportInfo,
    *,
    on_progress: ProgressCallback | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Dataset:
    """Fill an importing dataset from its sniffed local file, beating meanwhile; a failure
    removes what it wrote (records, stored file) and re-raises."""
    touched: set[str] = set()
    pending = vehicles.PendingRecords(dataset)
    with Heartbeat(
        lambda: _beat(dataset.pk),
        every=settings.CROSSLINE_HEARTBEAT_SECONDS,
        name=f"import-heartbeat-{dataset.pk}",
    ):
        try:
            _import_rows(
                dataset,
                info,
                touched=touched,
                pending=pending,
                on_progress=on_progress,
                chunk_rows=chunk_rows,
            )
            vehicles.refresh_vehicles(touched, pending=pending)
            refresh_query_statistics()
        except BaseException:
            reaper.discard_import(dataset, knrs=touched)
            raise
    if dataset.kind == DatasetKind.DEFECTS:
        defects_imported.send(sender=Dataset, dataset=dataset, knrs=sorted(touched))
    else:
        for receiver, outcome in results_imported.send_robust(
            sender=Dataset, dataset=dataset, knrs=sorted(touched)
        ):
            if isinstance(outcome, Exception):
                logger.error("After importing dataset %s, %s failed", dataset.pk, receiver,
                             exc_info=outcome)
    dataset.refresh_from_db()
    return dataset


def _beat(dataset_pk: Any) -> None:
    Dataset.objects.filter(pk=dataset_pk, status=Dataset.Status.IMPORTING).update(
        heartbeat_at=timezone.now()
    )


def _import_rows(
    dataset: Dataset,
    info: ExportInfo,
    *,
    touched: set[str],
    pending: vehicles.PendingRecords,
    on_progress: ProgressCallback | None,
    chunk_rows: int,
) -> None:
    """Stream the export into records and a local Parquet file, then store the file."""
    kind = dataset.kind
    report = ValidationReport(kind=kind, filename=dataset.original_name)
    first_at: pd.Timestamp | None = None
    last_at: pd.Timestamp | None = None
    with files.import_folder(dataset) as tmp:
        local = tmp / "data.parquet"
        writer = pq.ParquetWriter(
            local, SCHEMAS[kind], compression="zstd", use_dictionary=REPEATED_COLUMNS[kind]
        )
        try:
            tables = iter_clean_tables(
                info, report=report, chunk_rows=chunk_rows, dates=plausible_dates()
            )
            # Three stages on threads of their own, a chunk apart: reading and validating,
            # grouping by KNR and fingerprinting (Arrow and numpy, mostly without the GIL),
            # writing here.
            chunks = ((t, _group(t, kind, report)) for t in read_ahead(tables))
            for table, chunk in read_ahead(chunks):
                writer.write_table(table)
                _create_records(dataset, chunk, touched)
                pending.add(chunk)
                low, high = chunk.first_at.min(), chunk.last_at.max()
                first_at = low if first_at is None else min(first_at, low)
                last_at = high if last_at is None else max(last_at, high)
                rows_expected = _rows_expected(report, info.size_bytes)
                going_on = Dataset.objects.filter(
                    pk=dataset.pk, status=Dataset.Status.IMPORTING
                ).update(
                    progress=_percent(report.rows_read, rows_expected),
                    rows_read=report.rows_read,
                    rows_accepted=report.rows_accepted,
                )
                if going_on != 1:
                    # The reaper failed this import (and removed what it had written): stop
                    # at once rather than write the rest for nothing.
                    raise ImportAbandoned(
                        f"{dataset.original_name}: the import was failed meanwhile."
                    )
                if on_progress is not None:
                    on_progress(report.rows_read, rows_expected)
        finally:
            writer.close()
        report.refuse_if_nothing_accepted()
        _refuse_duplicate_content(dataset, report.content_fingerprint())
        name = files.stored_dataset_name(dataset)
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
    dataset.first_at = aware(first_at)
    dataset.last_at = aware(last_at)
    dataset.report = report.to_dict()
    dataset.finished_at = timezone.now()
    finished = Dataset.objects.filter(pk=dataset.pk, status=Dataset.Status.IMPORTING).update(
        **{field: getattr(dataset, field) for field in FINISHED_FIELDS}
    )
    if finished != 1:
        # The reaper declared this import dead meanwhile: its word stands.
        raise ImportAbandoned(f"{dataset.original_name}: the import was failed meanwhile.")


def _group(table: pa.Table, kind: str, report: ValidationReport) -> ChunkRecords:
    """One chunk's records, its rows folded into the content fingerprint."""
    # Text columns dictionary-encoded once, for the fingerprint and the records alike.
    dictionaries = text_dictionaries(table)
    report.add_fingerprint(table, dictionaries=dictionaries)
    return chunk_records(table, kind=kind, dictionaries=dictionaries)


def _create_records(dataset: Dataset, chunk: ChunkRecords, touched: set[str]) -> None:
    """Store one chunk's rows as one VehicleRecord per KNR (rows as JSON text, for its page)."""
    count = len(chunk.knrs)
    tz = timezone.get_default_timezone()
    # One insert (on SQLite one transaction) per chunk: a commit per thousand records was a
    # third of the writing.
    insert_columns(
        VehicleRecord,
        {
            "knr": chunk.knrs,
            "dataset_id": [dataset.pk] * count,
            "kind": [dataset.kind] * count,
            "first_at": aware_index(chunk.first_at, tz),
            "last_at": aware_index(chunk.last_at, tz),
            "row_count": chunk.row_count.tolist(),
            "nok_count": chunk.nok_count.tolist(),
            "fail_group_codes": chunk.fail_group_codes,
            "columns": [chunk.columns] * count,
            "rows_json": chunk.rows_json,
        },
    )
    touched.update(chunk.knrs)


def refresh_query_statistics() -> None:
    """Give SQLite's planner current statistics, so that lookups by KNR use the KNR index."""
    if connection.vendor != "sqlite":
        return  # MongoDB's planner tries candidate indexes itself.
    with connection.cursor() as cursor:
        # A sampled ANALYZE: its cost stays bounded whatever the tables' size.
        cursor.execute("PRAGMA analysis_limit=1000")
        cursor.execute("ANALYZE")


def _rows_expected(report: ValidationReport, size_bytes: int) -> int | None:
    """The file's rows, estimated from the share of its bytes read so far."""
    if not report.bytes_read:
        return None
    return max(report.rows_read, round(report.rows_read * size_bytes / report.bytes_read))


def _refuse_duplicate(sha256: str, original_name: str) -> None:
    existing = Dataset.objects.filter(sha256=sha256).first()
    if existing is not None and existing.status == Dataset.Status.FAILED:
        # A failed import holds nothing but its row: the file may be imported again at once.
        delete_dataset(dataset=existing)
        return
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


def _percent(done: int, expected: int | None) -> int:
    if not expected:
        return 0
    # 100 is reserved for a finished import.
    return min(99, int(done * 100 / expected))
