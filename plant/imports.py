"""Plant data: importing exports as datasets, deleting them, keeping vehicles up to date."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
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
from django_q.tasks import async_task

from crossline.beat import Heartbeat
from crossline.bulk import insert_columns, insert_rows, update_rows
from crossline.domain import frame_codes, parse_framed_codes
from crossline.exceptions import DuplicateUpload, InvalidUpload
from crossline.scratch import scratch_root
from crossline.taskqueue import drop_dead_task
from crossline.uploads import uploaded_file_path
from plant import ingest, records
from plant.models import Dataset, DatasetKind, Vehicle, VehicleRecord
from plant.results import count_results
from plant.selectors import json_pk, list_records
from plant.signals import defects_imported

logger = logging.getLogger(__name__)

# KNRs per query when vehicles are recomputed: bounds both memory and the size of `knr__in`.
VEHICLE_BATCH = 1_000
# KNRs per slice when an import creates the vehicles only it knows (queried by KNR range).
NEW_VEHICLE_BATCH = 5_000
_HASH_BLOCK = 1024 * 1024
# An import's temporary folders are named after its dataset, so that the reaper finds what a
# killed import left on disk.
IMPORT_TEMP_PREFIX = "crossline-import-"

ProgressCallback = Callable[[int, int | None], None]
FINISHED_FIELDS = (
    "status", "progress", "rows_read", "rows_accepted", "rows_rejected", "rows_dropped",
    "values_unparseable", "knr_count", "first_at", "last_at", "report", "file", "finished_at",
)


class ImportAbandoned(Exception):
    """The import finished after the reaper had failed it; what it wrote is removed."""


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
    path = Path(path)
    info = _check_export(path, original_name=original_name, kind=kind)
    dataset = _create_dataset(
        info, sha256=_file_sha256(path), user=user, status=Dataset.Status.IMPORTING
    )
    try:
        return _import_into(dataset, path, info, on_progress=on_progress, chunk_rows=chunk_rows)
    except BaseException:
        Dataset.objects.filter(pk=dataset.pk).delete()
        raise


def import_uploaded_file(
    *, upload: UploadedFile, kind: str, user: Any = None, inline: bool = False
) -> Dataset:
    """Import an upload (admin or API): within the request when small or `inline`, else by a
    worker. A large upload is checked (format, columns, size, duplicate), stored, queued, and
    its dataset returned with a `task_id`; its status, progress and rows read follow the import.
    """
    name = upload.name or "upload"
    with uploaded_file_path(upload) as path:
        if inline or path.stat().st_size <= settings.CROSSLINE_IMPORT_INLINE_BYTES:
            return import_dataset(path=path, original_name=name, kind=kind, user=user)
        return queue_import(path=path, original_name=name, kind=kind, user=user)


def queue_import(*, path: Path, original_name: str, kind: str, user: Any = None) -> Dataset:
    """Check an export, store it and queue its import for a worker; the dataset is `queued`."""
    path = Path(path)
    info = _check_export(path, original_name=original_name, kind=kind)
    dataset = _create_dataset(info, sha256=_file_sha256(path), user=user,
                              status=Dataset.Status.QUEUED)
    try:
        with path.open("rb") as handle:
            # File(), not the bytes: storage copies it in chunks, so a 2 GB export is streamed.
            source = default_storage.save(_source_name(dataset), File(handle))
        Dataset.objects.filter(pk=dataset.pk).update(source_file=source)
        task_id = async_task(
            "plant.tasks.run_queued_import", str(dataset.pk), task_name=f"import-{dataset.pk}"
        )
    except BaseException:
        dataset.refresh_from_db()
        _discard_import(dataset)
        Dataset.objects.filter(pk=dataset.pk).delete()
        raise
    # A worker may have claimed it already; the task id alone is written here.
    Dataset.objects.filter(pk=dataset.pk).update(task_id=str(task_id or ""))
    dataset.refresh_from_db()
    return dataset


def run_queued_import(dataset_id: Any) -> Dataset | None:
    """Import a queued dataset's stored upload (a worker's entry point); None if not queued.

    A refused or failed import keeps its dataset, `failed` with the reason, and nothing else.
    """
    claimed = Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.QUEUED).update(
        status=Dataset.Status.IMPORTING, heartbeat_at=timezone.now()
    )
    if claimed != 1:
        # Imported, failed or reaped meanwhile, or taken by another worker: never twice.
        return None
    dataset = Dataset.objects.get(pk=dataset_id)
    try:
        with import_folder(dataset) as folder:
            local = folder / f"upload{''.join(Path(dataset.original_name).suffixes[-2:])}"
            with default_storage.open(dataset.source_file, "rb") as stored, local.open("wb") as out:
                shutil.copyfileobj(stored, out, length=_HASH_BLOCK)
            info = ingest.sniff_export(
                local, filename=dataset.original_name, kind=dataset.kind,
                max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
                max_uncompressed_bytes=settings.CROSSLINE_MAX_UNCOMPRESSED_BYTES,
            )
            dataset = _import_into(dataset, local, info)
    except BaseException as exc:
        # Not over the reaper's word (already failed); over a "ready" whose last step failed.
        Dataset.objects.filter(pk=dataset.pk).exclude(status=Dataset.Status.FAILED).update(
            status=Dataset.Status.FAILED, error=str(exc) or type(exc).__name__,
            progress=0, finished_at=timezone.now(),
        )
        raise
    finally:
        _delete_stored(dataset.source_file, dataset)
        Dataset.objects.filter(pk=dataset.pk).update(source_file="")
    return dataset


def reap_stale_imports() -> int:
    """Fail imports whose heartbeat stopped (their process died), removing what they wrote.

    An import beats while it works; one silent for CROSSLINE_IMPORT_STALE_SECONDS is dead: its
    records, stored files and temporary folders go, its dataset stays `failed` with the
    reason, and the same file can be imported again at once.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CROSSLINE_IMPORT_STALE_SECONDS)
    # Importing, or queued by a request that died before the task was handed to the queue;
    # rows from before heartbeats count from their upload.
    stale = [
        *Dataset.objects.filter(status=Dataset.Status.IMPORTING, heartbeat_at__lt=cutoff),
        *Dataset.objects.filter(status=Dataset.Status.QUEUED, task_id="", heartbeat_at__lt=cutoff),
        *Dataset.objects.filter(
            status=Dataset.Status.IMPORTING, heartbeat_at=None, uploaded_at__lt=cutoff
        ),
    ]
    reaped = 0
    for dataset in stale:
        silent = (now - (dataset.heartbeat_at or dataset.uploaded_at)).total_seconds()
        # Compare-and-set on the beat too: an import that beat meanwhile is alive.
        failed = Dataset.objects.filter(
            pk=dataset.pk, status=dataset.status, heartbeat_at=dataset.heartbeat_at
        ).update(
            status=Dataset.Status.FAILED,
            error=f"The import stopped without finishing (no heartbeat for {silent:.0f} s: its "
            "process was killed); what it wrote was removed. Import the file again.",
            progress=0,
            heartbeat_at=now,
            finished_at=now,
        )
        if failed:
            drop_dead_task(dataset.task_id)
        reaped += failed
    # A failed import keeps a heartbeat until what it wrote is removed: a clean-up cut short
    # (the database or storage failing meanwhile) is finished by the next pass.
    for dataset in Dataset.objects.filter(status=Dataset.Status.FAILED, heartbeat_at__isnull=False):
        try:
            _discard_import(dataset)
        except Exception:
            logger.exception("Could not clean up after import %s; next time", dataset.pk)
            continue
        Dataset.objects.filter(pk=dataset.pk, status=Dataset.Status.FAILED).update(
            heartbeat_at=None
        )
        logger.warning("Cleaned up after import %s (%s)", dataset.pk, dataset.original_name)
    return reaped


def delete_dataset(*, dataset: Dataset) -> None:
    """Delete a dataset with its stored file and records, and recompute its vehicles."""
    _discard_import(dataset)
    Dataset.objects.filter(pk=dataset.pk).delete()


@contextlib.contextmanager
def import_folder(dataset: Dataset) -> Iterator[Path]:
    """A temporary folder named after the dataset, removed afterwards (or by the reaper)."""
    with tempfile.TemporaryDirectory(
        prefix=f"{IMPORT_TEMP_PREFIX}{dataset.pk}-", dir=scratch_root()
    ) as folder:
        yield Path(folder)


def refresh_vehicles(knrs: Iterable[str], *, pending: PendingRecords | None = None) -> None:
    """Recompute each KNR's Vehicle from the records of ready datasets; drop orphans.

    `pending` holds the summaries of the records an import just wrote, so that they are not
    read back from the database.
    """
    ordered = sorted(set(knrs))
    if pending is not None:
        ordered = [
            knr
            for begin in range(0, len(ordered), NEW_VEHICLE_BATCH)
            for knr in _create_new_vehicles(ordered[begin : begin + NEW_VEHICLE_BATCH], pending)
        ]
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
                    # Python strings (object), whose hash-table lookups are fast.
                    "knr": pd.Series(chunk.knrs, dtype=object),
                    "first_at": chunk.first_at,
                    "last_at": chunk.last_at,
                    "row_count": chunk.row_count,
                    "nok_count": chunk.nok_count,
                    "codes": chunk.fail_group_codes,
                }
            )
        )

    def part(self, knrs: list[str]) -> pd.DataFrame:
        """The summaries of these KNRs' records, indexed by KNR (a KNR once per record)."""
        if self._frame is None:
            self._frame = pd.concat(self._parts, ignore_index=True).set_index("knr").sort_index()
            self._parts = []
        # Batches come in KNR order over the import's own KNRs: a slice of the sorted frame,
        # found by bisection (a membership test per batch would make the refresh quadratic).
        index = self._frame.index
        part = self._frame.iloc[
            index.searchsorted(min(knrs), "left") : index.searchsorted(max(knrs), "right")
        ]
        return part[part.index.isin(knrs)]

    def rows(self, knrs: list[str]) -> Iterator[tuple]:
        """Record-like tuples for these KNRs, as `_refresh_vehicle_batch` reads them."""
        part = self.part(knrs)
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


def _check_export(path: Path, *, original_name: str, kind: str) -> ingest.ExportInfo:
    """Refuse an unknown kind or a file the reader cannot take, before anything is stored."""
    if kind not in ingest.KINDS:
        raise InvalidUpload(f"Unknown export kind {kind!r}; use one of {', '.join(ingest.KINDS)}.")
    reap_stale_imports()
    return ingest.sniff_export(
        path,
        filename=original_name,
        kind=kind,
        max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.CROSSLINE_MAX_UNCOMPRESSED_BYTES,
    )


def _create_dataset(info: ingest.ExportInfo, *, sha256: str, user: Any, status: str) -> Dataset:
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
    path: Path,
    info: ingest.ExportInfo,
    *,
    on_progress: ProgressCallback | None = None,
    chunk_rows: int = ingest.DEFAULT_CHUNK_ROWS,
) -> Dataset:
    """Fill an importing dataset from a local file, beating meanwhile; a failure removes what
    it wrote (records, stored file) and re-raises."""
    touched: set[str] = set()
    pending = PendingRecords(dataset)
    with Heartbeat(
        lambda: _beat(dataset.pk),
        every=settings.CROSSLINE_HEARTBEAT_SECONDS,
        name=f"import-heartbeat-{dataset.pk}",
    ):
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
            _discard_import(dataset, knrs=touched)
            raise
    if dataset.kind == DatasetKind.DEFECTS:
        defects_imported.send(sender=Dataset, dataset=dataset, knrs=sorted(touched))
    dataset.refresh_from_db()
    return dataset


def _beat(dataset_pk: Any) -> None:
    Dataset.objects.filter(pk=dataset_pk, status=Dataset.Status.IMPORTING).update(
        heartbeat_at=timezone.now()
    )


def _source_name(dataset: Dataset) -> str:
    """Where a queued import's upload waits in storage (the name keeps its suffixes)."""
    suffixes = "".join(Path(dataset.original_name).suffixes[-2:])
    return f"datasets/uploads/{dataset.pk}{suffixes}"


def _discard_import(dataset: Dataset, *, knrs: Iterable[str] | None = None) -> None:
    """Remove what an import wrote: records, stored files, temporary folders; refresh vehicles.

    The dataset row stays (its caller deletes it or keeps it `failed`).
    """
    if knrs is None:
        knrs = set(
            VehicleRecord.objects.filter(dataset_id=dataset.pk).values_list("knr", flat=True)
        )
    VehicleRecord.objects.filter(dataset_id=dataset.pk).delete()
    Dataset.objects.filter(pk=dataset.pk).update(file="")
    for name in (dataset.file, stored_dataset_name(dataset), dataset.source_file):
        _delete_stored(name, dataset)
    for folder in scratch_root().glob(f"{IMPORT_TEMP_PREFIX}{dataset.pk}-*"):
        shutil.rmtree(folder, ignore_errors=True)
    refresh_vehicles(knrs)


def _delete_stored(name: str, dataset: Dataset) -> None:
    if not name:
        return
    try:
        default_storage.delete(name)
    except FileNotFoundError:
        pass
    except Exception:
        logger.exception("Could not delete stored file %s of dataset %s", name, dataset.pk)


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
    first_at: pd.Timestamp | None = None
    last_at: pd.Timestamp | None = None
    with import_folder(dataset) as tmp:
        local = tmp / "data.parquet"
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
            # Three stages on threads of their own, a chunk apart: reading and normalising,
            # grouping by KNR (Arrow and numpy, mostly without the GIL), writing here.
            chunks = ((t, records.chunk_records(t, kind=kind)) for t in _read_ahead(tables))
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
    finished = Dataset.objects.filter(pk=dataset.pk, status=Dataset.Status.IMPORTING).update(
        **{field: getattr(dataset, field) for field in FINISHED_FIELDS}
    )
    if finished != 1:
        # The reaper declared this import dead meanwhile: its word stands.
        raise ImportAbandoned(f"{dataset.original_name}: the import was failed meanwhile.")


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
            "first_at": _aware_index(chunk.first_at, tz),
            "last_at": _aware_index(chunk.last_at, tz),
            "row_count": chunk.row_count.tolist(),
            "nok_count": chunk.nok_count.tolist(),
            "fail_group_codes": chunk.fail_group_codes,
            "columns": [chunk.columns] * count,
            "rows_json": chunk.rows_json,
        },
    )
    touched.update(chunk.knrs)


def _aware_list(stamps: np.ndarray, tz: Any) -> list[datetime | None]:
    """Naive datetime64 plant times as aware datetimes in TIME_ZONE."""
    return [
        None if value is None else timezone.make_aware(value, tz)
        for value in stamps.astype("datetime64[us]").tolist()
    ]


def _aware_index(stamps: np.ndarray, tz: Any) -> pd.DatetimeIndex:
    """Naive datetime64 plant times as an aware DatetimeIndex, as `make_aware` reads each."""
    naive = pd.DatetimeIndex(np.asarray(stamps).astype("datetime64[us]"))
    aware = naive.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    odd = np.flatnonzero(aware.isna() & ~naive.isna())
    if not odd.size:
        return aware
    # A time repeated or skipped by a clock change: taken value by value, as make_aware does.
    utc = aware.tz_convert(UTC).tz_localize(None).to_numpy().copy()
    for i in odd.tolist():
        moment = timezone.make_aware(naive[i].to_pydatetime(), tz).astimezone(UTC)
        utc[i] = np.datetime64(moment.replace(tzinfo=None), "us")
    return pd.DatetimeIndex(utc).tz_localize(UTC).tz_convert(tz)


def _rows_expected(report: ingest.ValidationReport, size_bytes: int) -> int | None:
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


def _create_new_vehicles(knrs: list[str], pending: PendingRecords) -> list[str]:
    """Create, column-wise, the vehicles of KNRs the import alone knows (one record each, no
    vehicle or record elsewhere: nearly all of a new export); return the other KNRs.

    `knrs` are sorted: what else the database holds for them is read by KNR range, on the KNR
    indexes alone (a list of thousands of KNRs costs more to prepare than to look up).
    """
    elsewhere = known_elsewhere(knrs[0], knrs[-1], dataset_id=pending.dataset_id)
    part = pending.part(knrs)
    repeated = part.index.duplicated(keep=False)
    elsewhere.update(part.index[repeated])
    new = part[~part.index.isin(list(elsewhere))]
    count = len(new)
    if count:
        tz = timezone.get_default_timezone()
        if pending.kind == DatasetKind.RESULTS:
            first = _aware_index(new["first_at"].to_numpy(), tz)
            last = _aware_index(new["last_at"].to_numpy(), tz)
            tests, noks, defects = new["row_count"].tolist(), new["nok_count"].tolist(), [0] * count
            codes = [""] * count
        else:
            first = last = _aware_index(np.full(count, np.datetime64("NaT", "ms")), tz)
            tests = noks = [0] * count
            defects = new["row_count"].tolist()
            codes = [frame_codes(parse_framed_codes(text)) for text in new["codes"].tolist()]
        insert_columns(
            Vehicle,
            {
                "knr": new.index.tolist(),
                "first_test_at": first,
                "last_test_at": last,
                "test_count": tests,
                "nok_count": noks,
                "defect_count": defects,
                "has_defects": [bool(text) for text in codes],
                "fail_group_codes": codes,
                "dataset_ids": [[json_pk(pending.dataset_id)]] * count,
                "updated_at": [timezone.now()] * count,
            },
        )
    created = set(new.index)
    return [knr for knr in knrs if knr not in created]


def known_elsewhere(first: str, last: str, *, dataset_id: Any) -> set[str]:
    """KNRs from `first` to `last` with a vehicle, or a record of another dataset than this."""
    span = (first, last)
    knrs = {
        knr
        for knr, record_dataset in VehicleRecord.objects.filter(knr__range=span).values_list(
            "knr", "dataset_id"
        )
        if record_dataset != dataset_id
    }
    knrs.update(Vehicle.objects.filter(knr__range=span).values_list("knr", flat=True))
    return knrs


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
