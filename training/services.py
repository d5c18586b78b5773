"""Training's writes: importing plant exports, keeping vehicles up to date, training runs."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import tempfile
import time
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
from django_q.tasks import async_task
from threadpoolctl import threadpool_limits

from crossline.exceptions import InvalidPipeline, InvalidUpload
from crossline.uploads import uploaded_file_path
from mlmodels.models import ModelVersion
from mlmodels.selectors import get_active_version_ids, list_active_versions
from mlmodels.services import (
    METRIC_FIELDS,
    activate_if_none_active,
    activate_model_version,
    delete_model_version,
    load_pipeline,
    register_model_version,
)
from training import ingest
from training.models import (
    Dataset,
    DatasetKind,
    PipelineDefinition,
    TrainingRun,
    Vehicle,
    VehicleRecord,
)
from training.pipeline.definition import (
    list_definition_files,
    load_definition_file,
    parse_definition,
)
from training.pipeline.estimators import positive_proba
from training.pipeline.explain import describe_scores, top_features
from training.pipeline.runner import StepFailed, run_pipeline
from training.pipeline.steps import score_model

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Datasets and vehicles
# ---------------------------------------------------------------------------------------------

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
        # Imported here: predictions reads training's selectors, so a module-level import
        # would be circular.
        from predictions.services import record_feedback

        record_feedback(knrs=sorted(touched))
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
        if report.rows_accepted == 0:
            raise InvalidUpload(
                f"{dataset.original_name}: none of its {report.rows_read} rows was accepted "
                f"({_problem_summary(report)})."
            )
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
    groups = chunk["S_GROUP_ID"].to_numpy() if kind == DatasetKind.DEFECTS else None

    records: list[VehicleRecord] = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        knr = str(knrs[start])
        stamps = data[start:end]
        codes = ""
        if groups is not None:
            codes = _frame_codes(np.unique(groups[start:end]).tolist())
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


def _frame_codes(codes: Iterable[int]) -> str:
    """Fail-group codes framed by commas (",2,4,"), so that one group is a `contains`."""
    unique = sorted({int(c) for c in codes})
    return f",{','.join(map(str, unique))}," if unique else ""


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


def _problem_summary(report: ingest.ValidationReport) -> str:
    return "; ".join(f"{reason}: {p.count}" for reason, p in report.problems.items()) or "none"


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
            summary["groups"].update(int(c) for c in codes.split(",") if c)

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
            "fail_group_codes": _frame_codes(summary["groups"]),
            "dataset_ids": sorted(_json_pk(pk) for pk in summary["dataset_ids"]),
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


def _json_pk(pk: Any) -> Any:
    """A primary key as JSON: integers stay integers, ObjectIds become strings."""
    return pk if isinstance(pk, int) else str(pk)


# ---------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------

PIPELINE_INPUTS = frozenset({"results_files", "defects_files"})

RUN_STALE_AFTER = timedelta(minutes=30)
RUN_WAIT_POLL_SECONDS = 2.0
SAVE_STEP = TrainingRun.SAVE_STEP


def sync_pipeline_definitions() -> list[PipelineDefinition]:
    """Load the shipped definitions (`training/pipelines/*.json`) into the database."""
    synced = []
    for path in list_definition_files():
        parsed = load_definition_file(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        definition, _ = PipelineDefinition.objects.update_or_create(
            name=parsed.name,
            defaults={"description": parsed.description, "definition": data, "is_shipped": True},
        )
        synced.append(definition)
    return synced


def get_pipeline_definition(name: str) -> tuple[PipelineDefinition, Any]:
    """The stored definition called `name`, validated against the registered steps."""
    stored = PipelineDefinition.objects.filter(name=name).first()
    if stored is None:
        sync_pipeline_definitions()
        stored = PipelineDefinition.objects.filter(name=name).first()
    if stored is None:
        raise InvalidPipeline(f"No pipeline definition named {name!r}.")
    return stored, parse_definition(stored.definition, initial_inputs=PIPELINE_INPUTS)


def start_training_run(
    *,
    kind: str = TrainingRun.Kind.TRAIN,
    pipeline_name: str = "default",
    user=None,
    enqueue: bool = True,
) -> TrainingRun:
    """Queue a training run for a django-q2 worker (or for the caller to execute)."""
    stored, _ = get_pipeline_definition(pipeline_name)
    ready = Dataset.objects.filter(status=Dataset.Status.READY)
    if not ready.filter(kind=DatasetKind.RESULTS).exists():
        raise InvalidUpload("There are no test results to train on: import a results file first.")
    if not ready.filter(kind=DatasetKind.DEFECTS).exists():
        raise InvalidUpload("There are no defects to train on: import a defects file first.")
    run = TrainingRun.objects.create(
        kind=kind,
        pipeline_name=stored.name,
        pipeline=stored.definition,
        requested_by=user,
        log=f"{timezone.now():%Y-%m-%d %H:%M:%S} queued by {user or 'the command line'}\n",
    )
    if enqueue:
        run.task_id = async_task(
            "training.tasks.execute_training_run", str(run.pk), task_name=f"training-run-{run.pk}"
        )
        TrainingRun.objects.filter(pk=run.pk).update(task_id=run.task_id)
    return run


class RunRecorder:
    """Writes a run's progress, current step, heartbeat and log as it goes."""

    def __init__(self, run: TrainingRun, on_progress: Callable[[TrainingRun], None] | None) -> None:
        self.run = run
        self.on_progress = on_progress
        self.lines: list[str] = [run.log.rstrip("\n")] if run.log else []
        # The pipeline's steps and the save step after them, numbered as one sequence.
        self.total = len(run.pipeline.get("steps", [])) + 1

    def log(self, message: str) -> None:
        self.lines.append(f"{timezone.now():%Y-%m-%d %H:%M:%S} {message}")
        self._write(log="\n".join(self.lines) + "\n")

    def step(self, name: str, index: int, pipeline_total: int = 0) -> None:
        # `pipeline_total` (the runner's count) leaves out the save step: `self.total` has it.
        total = max(self.total, pipeline_total + 1)
        # The save phase is the last tenth; the pipeline's steps share the rest.
        progress = int(90 * (index - 1) / max(total - 1, 1))
        self._write(current_step=name, progress=min(progress, 90))
        self.log(f"step {index}/{total}: {name}")

    def _write(self, **fields: Any) -> None:
        fields["heartbeat_at"] = timezone.now()
        TrainingRun.objects.filter(pk=self.run.pk).update(**fields)
        for key, value in fields.items():
            setattr(self.run, key, value)
        if self.on_progress is not None:
            self.on_progress(self.run)


def reap_stale_runs() -> int:
    """Fail runs whose worker died (no heartbeat for a while), removing what they left."""
    cutoff = timezone.now() - RUN_STALE_AFTER
    stale = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    reaped = 0
    for run in stale:
        claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
            status=TrainingRun.Status.FAILED,
            failed_step=run.current_step,
            error="The worker stopped without finishing the run (killed or timed out).",
            finished_at=timezone.now(),
        )
        if claimed == 1:
            discard_run_versions(run)
            reaped += 1
    return reaped


def discard_run_versions(run: TrainingRun) -> None:
    """Delete the versions and artifacts a failed run registered; active ones stay untouched."""
    for version in ModelVersion.objects.filter(training_run=run):
        if version.pk in get_active_version_ids():
            continue
        delete_model_version(version=version)


def claim_training_run(run_id: str) -> TrainingRun | None:
    """Mark a queued run running, once another running run has finished; None if not queued."""
    while True:
        reap_stale_runs()
        others = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exclude(pk=run_id)
        if not others.exists():
            now = timezone.now()
            claimed = TrainingRun.objects.filter(
                pk=run_id, status=TrainingRun.Status.QUEUED
            ).update(status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now)
            if claimed != 1:
                return None
            # Two workers may both have seen no running run: the older run goes first.
            running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING)
            first = running.order_by("created_at", "pk").first()
            if first is not None and str(first.pk) == str(run_id):
                return TrainingRun.objects.get(pk=run_id)
            TrainingRun.objects.filter(pk=run_id).update(status=TrainingRun.Status.QUEUED)
        wait_for_running_run()


def wait_for_running_run() -> None:
    """Pause before checking again whether the running run has finished."""
    time.sleep(RUN_WAIT_POLL_SECONDS)


def execute_training_run(
    run_id: str, *, on_progress: Callable[[TrainingRun], None] | None = None
) -> TrainingRun | None:
    """Run a queued training run to the end: pipeline, registry, comparison; or fail cleanly."""
    run = claim_training_run(run_id)
    if run is None:
        return None
    recorder = RunRecorder(run, on_progress)
    step_name = ""
    try:
        _, definition = get_pipeline_definition(run.pipeline_name)
        datasets = list(Dataset.objects.filter(status=Dataset.Status.READY).order_by("uploaded_at"))
        TrainingRun.objects.filter(pk=run.pk).update(dataset_ids=[str(d.pk) for d in datasets])
        recorder.log(f"{len(datasets)} datasets, pipeline {definition.name!r}")
        with tempfile.TemporaryDirectory(prefix="crossline-run-") as workdir:
            inputs = {
                "results_files": local_copies(datasets, DatasetKind.RESULTS, Path(workdir)),
                "defects_files": local_copies(datasets, DatasetKind.DEFECTS, Path(workdir)),
            }
            outcome = run_pipeline(
                definition,
                inputs,
                params=settings_params(),
                on_step=recorder.step,
                log=recorder.log,
            )
        step_name = SAVE_STEP
        recorder.step(SAVE_STEP, recorder.total)
        result = outcome["result"]
        data = {
            "datasets": [
                {"id": str(d.pk), "kind": d.kind, "sha256": d.sha256, "name": d.original_name}
                for d in datasets
            ]
        }
        versions = register_run_versions(run, result, definition.name, data)
        comparison = compare_with_active(versions, result)
        promoted = apply_first_activation_or_promotion(run, versions, comparison)
    except Exception as exc:
        cause = exc.original if isinstance(exc, StepFailed) else exc
        failed_step = (
            exc.step_name if isinstance(exc, StepFailed) else step_name or run.current_step
        )
        error = f"{type(cause).__name__}: {cause}"
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED,
            failed_step=failed_step,
            error=error,
            finished_at=timezone.now(),
        )
        recorder.log(f"failed in step {failed_step!r}: {error}")
        discard_run_versions(run)
        raise
    metrics = {kind: version_metrics(v) for kind, v in versions.items()}
    recorder.log(
        f"registered {', '.join(v.model_name for v in versions.values())}"
        + (f"; activated {', '.join(promoted)}" if promoted else "")
    )
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.SUCCEEDED,
        progress=100,
        metrics=metrics,
        skipped=result["skipped"],
        comparison=comparison,
        finished_at=timezone.now(),
    )
    return TrainingRun.objects.get(pk=run.pk)


def settings_params() -> dict[str, Any]:
    """Pipeline parameters set by the operator in the environment, overriding the definition."""
    overrides = {
        "target_recall": settings.CROSSLINE_TARGET_RECALL,
        "min_positives": settings.CROSSLINE_MIN_POSITIVES,
    }
    return {key: value for key, value in overrides.items() if value is not None}


def local_copies(datasets: list[Dataset], kind: str, workdir: Path) -> list[Path]:
    """Copy the stored Parquet files of one kind to local files the loader can seek in."""
    paths = []
    for dataset in datasets:
        if dataset.kind != kind:
            continue
        target = workdir / f"{kind}-{dataset.pk}.parquet"
        with default_storage.open(dataset.file, "rb") as stored, target.open("wb") as local:
            shutil.copyfileobj(stored, local, length=1024 * 1024)
        paths.append(target)
    return paths


def register_run_versions(
    run: TrainingRun, result: dict[str, Any], pipeline_name: str, data: dict
) -> dict[str, ModelVersion]:
    """Register one version per trained kind, with its test-set metrics."""
    versions = {}
    test_set = result.get("test_set")
    for kind, entry in result["models"].items():
        diagnostics = (
            explain_version(entry, test_set, kind)
            if test_set is not None and len(test_set)
            else {}
        )
        versions[kind] = register_model_version(
            type_model=kind,
            pipeline=entry["pipeline"],
            threshold=entry["threshold"],
            metrics=entry["metrics"],
            training_run=run,
            data=data,
            pipeline_name=pipeline_name,
            feature_count=len(entry["feature_columns"]),
            n_train=entry["n_train"],
            n_test=entry["n_test"],
            diagnostics=diagnostics,
        )
    return versions


def explain_version(entry: dict[str, Any], test_set: Any, kind: str) -> dict[str, Any]:
    """A trained kind's curves and top features on the test set, stored with its version."""
    if kind in test_set.labels:
        y_test = test_set.labels[kind].astype("int64")
    else:
        y_test = pd.Series(0, index=test_set.knrs)
    # One thread: OpenMP threads spinning on a busy host made the ~100 re-scorings of the
    # permutation importance 25× slower (33 s against 1.3 s for 86 features, 60 KNRs).
    with threadpool_limits(limits=1):
        scores = positive_proba(entry["pipeline"], test_set.features)
        return {
            **describe_scores(y_test, scores, entry["threshold"]),
            "importance": top_features(entry["pipeline"], test_set.features, y_test),
        }


def version_metrics(version: ModelVersion) -> dict[str, Any]:
    """A version's stored test-set metrics as one dict."""
    metrics = {field: getattr(version, field) for field in METRIC_FIELDS}
    return {
        **metrics,
        "confusion_matrix": version.confusion_matrix,
        "support": version.support,
        "threshold": version.threshold,
        "model_name": version.model_name,
    }


def compare_with_active(versions: dict[str, ModelVersion], result: dict[str, Any]) -> dict:
    """Score each challenger and the active version of its kind on the same test set."""
    test_set = result["test_set"]
    active = list_active_versions()
    kinds = {}
    for kind, challenger in versions.items():
        new_metrics = result["models"][kind]["metrics"]
        current = active.get(kind)
        if current is None:
            kinds[kind] = {
                "new_model": challenger.model_name,
                "new_model_metrics": new_metrics,
                "last_model": None,
                "last_model_metrics": None,
                "differences": None,
                "message": f"No active {kind} model to compare with.",
            }
            continue
        last_metrics = score_model(
            load_pipeline(current), current.threshold, test_set.features, test_set.labels[kind]
        )
        differences = {
            field: new_metrics[field] - last_metrics[field]
            for field in METRIC_FIELDS
            if new_metrics.get(field) is not None and last_metrics.get(field) is not None
        }
        kinds[kind] = {
            "new_model": challenger.model_name,
            "new_model_metrics": new_metrics,
            "last_model": current.model_name,
            "last_model_metrics": last_metrics,
            "differences": differences,
            "message": comparison_message(kind, challenger, current, differences),
        }
    return {
        "test_set": {
            "knrs": len(test_set),
            "first_knr": str(test_set.knrs.min()),
            "last_knr": str(test_set.knrs.max()),
        },
        "metric": settings.CROSSLINE_PROMOTE_METRIC,
        "kinds": kinds,
    }


def comparison_message(
    kind: str, challenger: ModelVersion, current: ModelVersion, differences: dict[str, float]
) -> str:
    """One sentence saying which model is better on the chosen metric."""
    metric = settings.CROSSLINE_PROMOTE_METRIC
    delta = differences.get(metric)
    if delta is None:
        return f"{metric} is undefined on this test set for {kind}."
    verdict = "better than" if delta > 0 else "worse than" if delta < 0 else "as good as"
    return (
        f"{challenger.model_name} is {verdict} the active {current.model_name} on "
        f"{metric} ({delta:+.4f}) on the same test set."
    )


def apply_first_activation_or_promotion(
    run: TrainingRun, versions: dict[str, ModelVersion], comparison: dict
) -> list[str]:
    """Activate kinds with no active version; promote better challengers if so configured."""
    activated = []
    for kind, version in versions.items():
        if activate_if_none_active(version=version):
            activated.append(version.model_name)
            continue
        if not settings.CROSSLINE_AUTO_PROMOTE:
            continue
        delta = (comparison["kinds"][kind]["differences"] or {}).get(
            settings.CROSSLINE_PROMOTE_METRIC
        )
        if delta is not None and delta >= settings.CROSSLINE_PROMOTE_MARGIN:
            activate_model_version(
                version=version,
                user=run.requested_by,
                reason=f"auto-promoted: {settings.CROSSLINE_PROMOTE_METRIC} {delta:+.4f}",
            )
            activated.append(version.model_name)
    return activated
