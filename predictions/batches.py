"""Batch predictions: many vehicles at once, from an uploaded results file or since a date;
inline when small, else by a worker, with progress and a CSV of the result."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django_q.tasks import async_task

from crossline.exceptions import InvalidUpload, UploadTooLarge
from crossline.uploads import uploaded_file_path
from mlmodels.services import get_active_models
from plant.readers.columns import RESULTS
from plant.readers.report import ValidationReport
from plant.selectors import list_knrs_tested_since
from predictions import services
from predictions.exports import predictions_csv
from predictions.models import BatchPrediction, Prediction
from predictions.services import Progress, validate_knrs

# Rows read per chunk of an uploaded file while deciding whether a batch is small.
SNIFF_CHUNK_ROWS = 50_000


def start_batch_prediction(
    *,
    upload: UploadedFile | None = None,
    since: datetime | None = None,
    knrs: list[str] | None = None,
    user: Any = None,
) -> tuple[BatchPrediction, list[Prediction] | None]:
    """Predict an uploaded results file or the vehicles since a date: inline if small, else
    queued; or stored vehicles chosen by KNR, always on a worker (the page shows its progress).

    Returns the batch and, when it ran inline, its predictions.
    """
    if knrs is not None:
        if upload is not None or since is not None:
            raise InvalidUpload("Send either KNRs, a test-results file or a date, not two.")
        knrs = validate_knrs(knrs)
        get_active_models()  # with no active model, nothing is queued
        user = user if getattr(user, "is_authenticated", False) else None
        batch = BatchPrediction.objects.create(knrs=knrs, knr_count=len(knrs), requested_by=user)
        return _enqueue(batch), None
    if (upload is None) == (since is None):
        raise InvalidUpload("Send either a test-results file or a date, not both.")
    if upload is not None and upload.size > settings.CROSSLINE_MAX_UPLOAD_BYTES:
        raise UploadTooLarge(
            f"{upload.name} is {upload.size:,} bytes, over the limit of "
            f"{settings.CROSSLINE_MAX_UPLOAD_BYTES:,} bytes."
        )
    models = get_active_models()
    limit = settings.CROSSLINE_BATCH_SYNC_LIMIT
    user = user if getattr(user, "is_authenticated", False) else None
    if since is not None:
        knrs = list_knrs_tested_since(since)
        batch = BatchPrediction.objects.create(
            since=since, knr_count=len(knrs), requested_by=user
        )
        if len(knrs) <= limit:
            return batch, _run_inline(batch, lambda p: services.predict_stored_knrs(
                knrs, models=models, on_progress=p))
        return _enqueue(batch), None

    assert upload is not None
    with uploaded_file_path(upload) as path:
        small = _small_results(path, filename=upload.name, limit=limit)
        if small is not None:
            batch = BatchPrediction.objects.create(
                original_name=upload.name,
                knr_count=int(small["KNR"].nunique()),
                requested_by=user,
            )
            return batch, _run_inline(
                batch, lambda p: services.predict_and_store(small, models=models, on_progress=p)
            )
        with path.open("rb") as f:
            # File(), not the bytes: storage copies it in chunks, so a 2 GB export is streamed.
            stored = default_storage.save(
                f"predictions/batches/{_safe_name(upload.name)}", File(f)
            )
    batch = BatchPrediction.objects.create(
        source_file=stored, original_name=upload.name, requested_by=user
    )
    return _enqueue(batch), None


def _small_results(path: Path, *, filename: str, limit: int) -> pd.DataFrame | None:
    """The file's rows if it holds at most `limit` KNRs; None as soon as it holds more."""
    report = ValidationReport(kind=RESULTS, filename=filename)
    chunks: list[pd.DataFrame] = []
    knrs: set[str] = set()
    for chunk in services.results_chunks(
        path, filename=filename, report=report, chunk_rows=SNIFF_CHUNK_ROWS
    ):
        knrs.update(chunk["KNR"].unique())
        if len(knrs) > limit:
            return None
        chunks.append(chunk)
    report.refuse_if_nothing_accepted()
    return pd.concat(chunks, ignore_index=True)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name) or "results"


def _run_inline(batch: BatchPrediction, work: Callable[[Progress], list[Prediction]]):
    BatchPrediction.objects.filter(pk=batch.pk).update(status=BatchPrediction.Status.RUNNING)
    return _run(batch, lambda: work(lambda done: None))


def _run(batch: BatchPrediction, work: Callable[[], list[Prediction]]) -> list[Prediction]:
    """Do a running batch's work: finished with its predictions, or failed with the error."""
    try:
        predictions = work()
    except Exception as exc:
        _fail(batch, exc)
        raise
    _finish(batch, predictions)
    batch.refresh_from_db()
    return predictions


def reap_stale_inline_batches() -> int:
    """Fail the batches predicted within a request whose web process stopped mid-way.

    A worker's batch is handed to another worker when its own stops; an inline one has no task
    and would show "running" for ever. The predictions it stored before are kept (each was
    stored whole). A compare-and-set: a batch that finishes meanwhile is left alone.
    """
    stale_after = timedelta(seconds=settings.CROSSLINE_INLINE_BATCH_STALE_SECONDS)
    now = timezone.now()
    stale = BatchPrediction.objects.filter(
        status=BatchPrediction.Status.RUNNING, task_id="", created_at__lt=now - stale_after
    )
    reaped = 0
    for batch in stale:
        minutes = (now - batch.created_at).total_seconds() / 60
        reaped += BatchPrediction.objects.filter(
            pk=batch.pk, status=BatchPrediction.Status.RUNNING, task_id=""
        ).update(
            status=BatchPrediction.Status.FAILED,
            error=(
                f"The web process stopped while predicting this batch within its request: "
                f"it had not finished {minutes:.0f} minutes after it began. Predictions stored "
                "before are kept; start the batch again to predict the rest."
            ),
            finished_at=now,
        )
    return reaped


def _enqueue(batch: BatchPrediction) -> BatchPrediction:
    task_id = async_task(
        "predictions.tasks.run_batch_prediction", batch.pk, task_name=f"batch-prediction-{batch.pk}"
    )
    BatchPrediction.objects.filter(pk=batch.pk).update(task_id=str(task_id or ""))
    batch.refresh_from_db()
    return batch


def run_batch_prediction(*, batch_id: Any) -> BatchPrediction | None:
    """Run a queued batch (the worker's entry point), or start again a batch whose worker
    stopped mid-run; a finished batch is left alone.

    The queue hands a task to a second worker only once the first stopped beating it
    (`crossline.taskqueue.release_orphaned_tasks`): a batch still running then was cut short,
    and is predicted again from the start (storing a vehicle's prediction again replaces it).
    The compare-and-set on `attempts` lets one worker take each start.
    """
    batch = BatchPrediction.objects.filter(pk=batch_id).first()
    startable = (BatchPrediction.Status.QUEUED, BatchPrediction.Status.RUNNING)
    if batch is None or batch.status not in startable:
        return None  # finished (or deleted): never predict a batch twice
    taken = BatchPrediction.objects.filter(
        pk=batch_id, status=batch.status, attempts=batch.attempts
    ).update(
        status=BatchPrediction.Status.RUNNING,
        attempts=batch.attempts + 1,
        progress=0,
        predicted_count=0,
    )
    if taken != 1:
        return None  # another worker took it meanwhile
    batch.refresh_from_db()
    _run(batch, lambda: _predict_batch(batch))
    return batch


def _predict_batch(batch: BatchPrediction) -> list[Prediction]:
    models = get_active_models()
    if batch.source_file:
        with _stored_file_path(batch.source_file) as path:
            results = services.read_results_file(path, filename=batch.original_name)
        total = int(results["KNR"].nunique())
        _set_total(batch, total)
        return services.predict_and_store(
            results, models=models, on_progress=_progress(batch, total)
        )
    knrs = list(batch.knrs) if batch.knrs else list_knrs_tested_since(batch.since)
    _set_total(batch, len(knrs))
    return services.predict_stored_knrs(
        knrs, models=models, on_progress=_progress(batch, len(knrs))
    )


def _set_total(batch: BatchPrediction, total: int) -> None:
    BatchPrediction.objects.filter(pk=batch.pk).update(knr_count=total)


def _progress(batch: BatchPrediction, total: int) -> Progress:
    def report(done: int) -> None:
        percent = min(99, int(100 * done / total)) if total else 99
        BatchPrediction.objects.filter(pk=batch.pk).update(
            predicted_count=done, progress=percent
        )

    return report


def _finish(batch: BatchPrediction, predictions: list[Prediction]) -> None:
    content = ContentFile(predictions_csv(predictions).encode())
    result = default_storage.save(f"predictions/results/batch-{batch.pk}.csv", content)
    BatchPrediction.objects.filter(pk=batch.pk).update(
        status=BatchPrediction.Status.SUCCEEDED,
        predicted_count=len(predictions),
        knr_count=max(batch.knr_count, len(predictions)),
        progress=100,
        result_file=result,
        finished_at=timezone.now(),
    )


def _fail(batch: BatchPrediction, exc: Exception) -> None:
    BatchPrediction.objects.filter(pk=batch.pk).update(
        status=BatchPrediction.Status.FAILED,
        error=f"{type(exc).__name__}: {exc}",
        finished_at=timezone.now(),
    )


@contextlib.contextmanager
def _stored_file_path(name: str) -> Iterator[Path]:
    # Storage may be GridFS: the readers need a local, seekable file.
    with (
        default_storage.open(name, "rb") as stored,
        tempfile.NamedTemporaryFile(prefix="crossline-batch-") as spool,
    ):
        while block := stored.read(1024 * 1024):
            spool.write(block)
        spool.flush()
        yield Path(spool.name)
