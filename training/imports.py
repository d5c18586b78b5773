"""Plant data: importing exports as datasets, deleting them, keeping vehicles up to date."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import shutil
import tempfile
import zlib
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
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from crossline.beat import Heartbeat
from crossline.domain import frame_codes, parse_framed_codes
from crossline.exceptions import InvalidUpload
from crossline.uploads import uploaded_file_path
from training import ingest
from training.models import Dataset, DatasetKind, Vehicle, VehicleRecord
from training.selectors import json_pk
from training.signals import defects_imported

logger = logging.getLogger(__name__)

# KNRs per query when vehicles are recomputed: bounds both memory and the size of `knr__in`.
VEHICLE_BATCH = 1_000
RECORD_BATCH = 1_000
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

    `on_progress(rows_read, rows_expected)` is called after every chunk (`rows_expected` is an
    estimate, or None when unknown). Raises InvalidUpload, with nothing stored, for a refused
    file; any failure half-way removes everything the import wrote before re-raising.
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
            "training.tasks.run_queued_import", str(dataset.pk), task_name=f"import-{dataset.pk}"
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
        reaped += Dataset.objects.filter(
            pk=dataset.pk, status=dataset.status, heartbeat_at=dataset.heartbeat_at
        ).update(
            status=Dataset.Status.FAILED,
            error=f"The import stopped without finishing (no heartbeat for {silent:.0f} s: its "
            "process was killed); what it wrote was removed. Import the file again.",
            progress=0,
            heartbeat_at=now,
            finished_at=now,
        )
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
    with tempfile.TemporaryDirectory(prefix=f"{IMPORT_TEMP_PREFIX}{dataset.pk}-") as folder:
        yield Path(folder)


def refresh_vehicles(knrs: Iterable[str]) -> None:
    """Recompute each KNR's Vehicle from the records of ready datasets; drop orphans."""
    ordered = sorted(set(knrs))
    for begin in range(0, len(ordered), VEHICLE_BATCH):
        _refresh_vehicle_batch(ordered[begin : begin + VEHICLE_BATCH])


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
        path, filename=original_name, kind=kind, max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES
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
                rows_expected=_estimate_rows(path, info),
                on_progress=on_progress,
                chunk_rows=chunk_rows,
            )
            refresh_vehicles(touched)
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
    for folder in Path(tempfile.gettempdir()).glob(f"{IMPORT_TEMP_PREFIX}{dataset.pk}-*"):
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
    rows_expected: int | None,
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
            for chunk in ingest.iter_clean_chunks(
                path,
                filename=dataset.original_name,
                kind=kind,
                report=report,
                chunk_rows=chunk_rows,
                max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
            ):
                writer.write_table(ingest.chunk_to_table(chunk, kind=kind))
                _create_records(dataset, chunk, touched)
                low, high = chunk["DATA"].min(), chunk["DATA"].max()
                first_at = low if first_at is None else min(first_at, low)
                last_at = high if last_at is None else max(last_at, high)
                progress = _percent(report.rows_read, rows_expected)
                Dataset.objects.filter(pk=dataset.pk).update(
                    progress=progress,
                    rows_read=report.rows_read,
                    rows_accepted=report.rows_accepted,
                )
                if on_progress is not None:
                    on_progress(report.rows_read, rows_expected)
        finally:
            writer.close()
        report.refuse_if_nothing_accepted()
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


def _create_records(dataset: Dataset, chunk: pd.DataFrame, touched: set[str]) -> None:
    """Store one chunk's rows as one VehicleRecord per KNR (JSON-safe rows, for its page)."""
    kind = dataset.kind
    chunk = chunk.sort_values("KNR", kind="stable", ignore_index=True)
    knrs = chunk["KNR"].to_numpy()
    starts = np.flatnonzero(np.r_[True, knrs[1:] != knrs[:-1]])
    ends = np.r_[starts[1:], len(knrs)]
    columns = [c for c in ingest.OUTPUT_COLUMNS[kind] if c != "KNR"]
    # Column-wise conversion to Python values: far faster than per-row work on big chunks.
    values = {c: _json_column(chunk[c]) for c in columns}
    data = chunk["DATA"].to_numpy()
    nok = (chunk["STATUS"].to_numpy() == ingest.STATUS_NOK) if kind == DatasetKind.RESULTS else None
    groups = chunk["S_GROUP_ID"].to_numpy() if kind == DatasetKind.DEFECTS else None

    records: list[VehicleRecord] = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        knr = str(knrs[start])
        stamps = data[start:end]
        codes = ""
        if groups is not None:
            codes = frame_codes(np.unique(groups[start:end]).tolist())
        records.append(
            VehicleRecord(
                knr=knr,
                dataset_id=dataset.pk,
                kind=kind,
                first_at=_aware(stamps.min()),
                last_at=_aware(stamps.max()),
                row_count=end - start,
                nok_count=int(nok[start:end].sum()) if nok is not None else 0,
                fail_group_codes=codes,
                columns=columns,
                rows=[
                    list(row) for row in zip(*(values[c][start:end] for c in columns), strict=True)
                ],
            )
        )
        touched.add(knr)
        if len(records) >= RECORD_BATCH:
            VehicleRecord.objects.bulk_create(records)
            records = []
    if records:
        VehicleRecord.objects.bulk_create(records)


def _json_column(series: pd.Series) -> list[Any]:
    """A column as JSON-safe Python values: ISO strings for times, None for missing."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        text = np.datetime_as_string(series.to_numpy(), unit="ms")
        return [None if t == "NaT" else t.replace("T", " ") for t in text.tolist()]
    if pd.api.types.is_float_dtype(series.dtype):
        array = series.to_numpy()
        return [None if v != v else v for v in array.tolist()]  # NaN is the only v != v
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy().tolist()
    return series.astype(object).where(series.notna(), None).tolist()


def _refuse_duplicate(sha256: str, original_name: str) -> None:
    existing = Dataset.objects.filter(sha256=sha256).first()
    if existing is not None and existing.status == Dataset.Status.FAILED:
        # A failed import holds nothing but its row: the file may be imported again at once.
        delete_dataset(dataset=existing)
        return
    if existing is not None:
        when = timezone.localtime(existing.uploaded_at).strftime("%Y-%m-%d %H:%M")
        raise InvalidUpload(
            f"{original_name} was already imported as dataset {existing.pk} "
            f"({existing.original_name}) on {when}."
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _estimate_rows(path: Path, info: ingest.ExportInfo) -> int | None:
    """The number of data rows, for progress: exact for Parquet, lines for CSV, else None."""
    if info.format == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if info.format not in ("csv", "csv.gz"):
        return None
    lines = 0
    last = b"\n"
    try:
        opener = gzip.open if info.format == "csv.gz" else open
        with opener(path, "rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                lines += block.count(b"\n")
                last = block[-1:]
    except (OSError, EOFError, zlib.error):
        return None
    lines += last != b"\n"
    return max(lines - info.header_row - 1, 1)


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


def _refresh_vehicle_batch(knrs: list[str]) -> None:
    ready = _ready_dataset_ids()
    summaries: dict[str, dict[str, Any]] = {}
    records = VehicleRecord.objects.filter(knr__in=knrs, dataset_id__in=ready).values_list(
        "knr",
        "dataset_id",
        "kind",
        "first_at",
        "last_at",
        "row_count",
        "nok_count",
        "fail_group_codes",
    )
    for knr, dataset_id, kind, first_at, last_at, row_count, nok_count, codes in records:
        summary = summaries.setdefault(
            knr,
            {
                "first_test_at": None,
                "last_test_at": None,
                "test_count": 0,
                "nok_count": 0,
                "defect_count": 0,
                "groups": set(),
                "dataset_ids": set(),
            },
        )
        summary["dataset_ids"].add(dataset_id)
        if kind == DatasetKind.RESULTS:
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

    existing = {v.knr: v for v in Vehicle.objects.filter(knr__in=knrs)}
    gone = [v.pk for knr, v in existing.items() if knr not in summaries]
    if gone:
        Vehicle.objects.filter(pk__in=gone).delete()
    to_create: list[Vehicle] = []
    changes: dict[Any, dict[str, Any]] = {}
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
            to_create.append(Vehicle(knr=knr, **fields))
        elif any(getattr(vehicle, name) != value for name, value in fields.items()):
            changes[vehicle.pk] = fields
    if to_create:
        Vehicle.objects.bulk_create(to_create, batch_size=VEHICLE_BATCH)
    # One update per changed vehicle: bulk_update's CASE/$switch expression grows with the
    # batch and is evaluated for every row (quadratic). The atomic block only batches SQLite's
    # commits; correctness does not depend on it (MongoDB ignores it).
    now = timezone.now()
    with transaction.atomic():
        for pk, fields in changes.items():
            Vehicle.objects.filter(pk=pk).update(updated_at=now, **fields)
