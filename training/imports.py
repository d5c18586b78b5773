"""Plant data: importing exports as datasets, deleting them, keeping vehicles up to date."""

from __future__ import annotations

import gzip
import hashlib
import logging
import tempfile
import zlib
from collections.abc import Callable, Iterable
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

from crossline.domain import frame_codes, parse_framed_codes
from crossline.exceptions import InvalidUpload
from crossline.uploads import uploaded_file_path
from training import ingest
from training.models import Dataset, DatasetKind, Vehicle, VehicleRecord
from training.pipeline.features import RESULT_KEY, count_results
from training.selectors import json_pk
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

    `on_progress(rows_read, rows_expected)` is called after every chunk (`rows_expected` is an
    estimate, or None when unknown). Raises InvalidUpload, with nothing stored, for a refused
    file; any failure half-way removes everything the import wrote before re-raising.
    """
    if kind not in ingest.KINDS:
        raise InvalidUpload(f"Unknown export kind {kind!r}; use one of {', '.join(ingest.KINDS)}.")
    clean_stale_imports()
    path = Path(path)
    max_bytes = settings.CROSSLINE_MAX_UPLOAD_BYTES
    info = ingest.sniff_export(path, filename=original_name, kind=kind, max_bytes=max_bytes)
    sha256 = _file_sha256(path)
    _refuse_duplicate(sha256, original_name)
    rows_expected = _estimate_rows(path, info)

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
    try:
        _import_rows(
            dataset,
            path,
            info,
            touched=touched,
            rows_expected=rows_expected,
            on_progress=on_progress,
            chunk_rows=chunk_rows,
        )
        refresh_vehicles(touched)
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


def refresh_vehicles(knrs: Iterable[str]) -> None:
    """Recompute each KNR's Vehicle from the records of ready datasets; drop orphans."""
    ordered = sorted(set(knrs))
    for begin in range(0, len(ordered), VEHICLE_BATCH):
        _refresh_vehicle_batch(ordered[begin : begin + VEHICLE_BATCH])


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
    rows_expected: int | None,
    on_progress: ProgressCallback | None,
    chunk_rows: int,
) -> None:
    """Stream the export into records and a local Parquet file, then store the file."""
    kind = dataset.kind
    report = ingest.ValidationReport(kind=kind, filename=dataset.original_name)
    first_at: pd.Timestamp | None = None
    last_at: pd.Timestamp | None = None
    with tempfile.TemporaryDirectory(prefix="crossline-import-") as tmp:
        local = Path(tmp) / "data.parquet"
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
    dataset.save()


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
    # A result repeated within the chunk counts once (the same key as the features use).
    first = (
        ~chunk.duplicated(subset=list(RESULT_KEY)).to_numpy()
        if kind == DatasetKind.RESULTS
        else np.ones(len(chunk), dtype=bool)
    )
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
                row_count=int(first[start:end].sum()),
                nok_count=int((nok[start:end] & first[start:end]).sum()) if nok is not None else 0,
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
    result_records: dict[str, int] = {}
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
        if kind == DatasetKind.RESULTS:
            result_records[knr] = result_records.get(knr, 0) + 1
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

    _count_overlapping_results(
        summaries, [knr for knr, count in result_records.items() if count > 1], ready
    )
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


def _count_overlapping_results(
    summaries: dict[str, dict[str, Any]], knrs: list[str], ready: list[Any]
) -> None:
    """Recount the results of KNRs stored in several records (overlapping exports), once each."""
    if not knrs:
        return
    rows: dict[str, list[dict[str, Any]]] = {knr: [] for knr in knrs}
    records = VehicleRecord.objects.filter(
        knr__in=knrs, kind=DatasetKind.RESULTS, dataset_id__in=ready
    ).values_list("knr", "columns", "rows")
    for knr, columns, values in records:
        rows[knr].extend(dict(zip(columns, row, strict=False)) for row in values)
    for knr, vehicle_rows in rows.items():
        summaries[knr]["test_count"], summaries[knr]["nok_count"] = count_results(vehicle_rows)
