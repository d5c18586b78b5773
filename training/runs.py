"""Training runs: pipeline definitions, queueing, running, and the reaper of dead runs; what a
run registers is `training.registration`."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from crossline.beat import Heartbeat
from crossline.exceptions import Conflict, DuplicateRun, NotFound, NothingToTrain
from crossline.scratch import scratch_root
from crossline.taskqueue import drop_dead_task, list_queued_tasks
from mlmodels.archive import delete_model_version
from mlmodels.models import ModelVersion
from plant.models import Dataset, DatasetKind
from plant.selectors import get_fail_group_labels, list_ready_datasets
from training.models import PipelineDefinition, TrainingRun
from training.pipeline.definition import (
    list_definition_files,
    load_definition_file,
    parse_definition,
)
from training.pipeline.outcomes import kind_outcomes, registered_line
from training.pipeline.runner import StepFailed, run_pipeline
from training.references import record_references
from training.registration import (
    apply_first_activation_or_promotion,
    compare_with_active,
    register_run_versions,
    version_metrics,
)
from training.signals import model_version_registered, training_run_failed, training_run_succeeded

logger = logging.getLogger(__name__)

SAVE_STEP = TrainingRun.SAVE_STEP
# One run at a time: the running run holds this value of the unique `running_key`.
RUNNING_KEY = "running"
RUN_TEMP_PREFIX = "crossline-run-"


def sync_pipeline_definitions() -> list[PipelineDefinition]:
    """Load the shipped definitions (`training/pipelines/*.json`) into the database."""
    synced = []
    for path in list_definition_files():
        parsed = load_definition_file(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        # Read first: listing pipelines must not write (and wait on SQLite's lock) when nothing
        # changed.
        stored = PipelineDefinition.objects.filter(name=parsed.name).first()
        if stored is not None and (stored.description, stored.definition, stored.is_shipped) == (
            parsed.description, data, True
        ):
            synced.append(stored)
            continue
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
        raise NotFound(f"No pipeline definition named {name!r}.")
    return stored, parse_definition(stored.definition)


def run_fingerprint(stored: PipelineDefinition, datasets: Iterable[Dataset]) -> str:
    """What makes two runs identical: the pipeline as defined, its parameters and the data."""
    identity = {
        "pipeline": stored.name,
        "definition": stored.definition,
        "params": settings_params(),
        "data": sorted(d.sha256 for d in datasets),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def start_training_run(
    *,
    kind: str = TrainingRun.Kind.TRAIN,
    pipeline_name: str = "default",
    user=None,
    enqueue: bool = True,
) -> TrainingRun:
    """Queue a training run for a django-q2 worker (or for the caller to execute).

    Raises DuplicateRun (409), queueing nothing, while an identical run is queued or running.
    """
    stored, _ = get_pipeline_definition(pipeline_name)
    ready = list_ready_datasets()
    if not ready.filter(kind=DatasetKind.RESULTS).exists():
        raise NothingToTrain("There are no test results to train on: import a results file first.")
    if not ready.filter(kind=DatasetKind.DEFECTS).exists():
        raise NothingToTrain("There are no defects to train on: import a defects file first.")
    fingerprint = run_fingerprint(stored, ready)
    try:
        # The savepoint only lets SQLite go on after the refusal; the unique key decides.
        with transaction.atomic():
            run = TrainingRun.objects.create(
                kind=kind,
                pipeline_name=stored.name,
                pipeline=stored.definition,
                requested_by=user,
                open_key=fingerprint,
                log=f"{timezone.now():%Y-%m-%d %H:%M:%S} queued by {user or 'the command line'}\n",
            )
    except IntegrityError:
        raise _duplicate_run(fingerprint, stored.name) from None
    if enqueue:
        run.task_id = enqueue_training_run(run.pk)
    return run


def _duplicate_run(fingerprint: str, pipeline_name: str) -> DuplicateRun:
    existing = TrainingRun.objects.filter(open_key=fingerprint).first()
    which = f"run {existing.pk} is {existing.status}" if existing else "one was just queued"
    return DuplicateRun(
        f"An identical training run (pipeline {pipeline_name!r}, the same parameters and data) "
        f"is already queued or running: {which}. Nothing was queued; wait for it to finish."
    )


def enqueue_training_run(run_id: Any) -> str:
    """Give a queued run a django-q2 task; returns the task id."""
    task_id = async_task(
        "training.tasks.execute_training_run", str(run_id), task_name=f"training-run-{run_id}"
    )
    TrainingRun.objects.filter(pk=run_id).update(task_id=task_id)
    return task_id


class RunRecorder:
    """Writes a run's progress, current step, heartbeat and log as it goes."""

    def __init__(self, run: TrainingRun, on_progress: Callable[[TrainingRun], None] | None) -> None:
        self.run = run
        self.on_progress = on_progress
        self.lines: list[str] = [run.log.rstrip("\n")] if run.log else []
        # The pipeline's steps and the save step after them, numbered as one sequence.
        self.total = len(run.pipeline.get("steps", [])) + 1

    def log(self, message: str) -> None:
        self._write(log=self.append(message))

    def append(self, message: str) -> str:
        """Add a line to the log without writing it; the whole log."""
        self.lines.append(f"{timezone.now():%Y-%m-%d %H:%M:%S} {message}")
        return "\n".join(self.lines) + "\n"

    def step(self, name: str, index: int, pipeline_total: int = 0) -> None:
        # `pipeline_total` (the runner's count) leaves out the save step: `self.total` has it.
        total = max(self.total, pipeline_total + 1)
        # The save phase is the last tenth; the pipeline's steps share the rest.
        progress = int(90 * (index - 1) / max(total - 1, 1))
        self._write(current_step=name, progress=min(progress, 90))
        self.log(f"step {index}/{total}: {name}")

    def _write(self, **fields: Any) -> None:
        fields["heartbeat_at"] = timezone.now()
        # Only while running: a run the reaper failed keeps the reaper's word.
        TrainingRun.objects.filter(pk=self.run.pk, status=TrainingRun.Status.RUNNING).update(
            **fields
        )
        for key, value in fields.items():
            setattr(self.run, key, value)
        if self.on_progress is not None:
            self.on_progress(self.run)


def beat_run(run_id: Any) -> None:
    """Record that a running run is alive."""
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )


def close_run(run: TrainingRun, status: str, *, from_status: str, **fields: Any) -> bool:
    """Compare-and-set a run from `from_status` to a final status; False if it had moved on.

    A closed run frees its keys, so an identical run may be queued and the next may start.
    """
    freed = f"closed-{run.pk}"
    return (
        TrainingRun.objects.filter(pk=run.pk, status=from_status).update(
            status=status,
            open_key=freed,
            running_key=freed,
            finished_at=timezone.now(),
            **fields,
        )
        == 1
    )


def reap_stale_runs() -> int:
    """Fail running runs whose heartbeat stopped, removing their versions and temporary files."""
    stale_after = timedelta(seconds=settings.CROSSLINE_RUN_STALE_SECONDS)
    now = timezone.now()
    stale = TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - stale_after
    )
    reaped = 0
    for run in stale:
        silent = (now - run.heartbeat_at).total_seconds()
        error = (
            f"The worker stopped without finishing the run: no heartbeat for {silent:.0f} s "
            "(killed, out of memory or timed out)."
        )
        if close_run(
            run,
            TrainingRun.Status.FAILED,
            from_status=TrainingRun.Status.RUNNING,
            failed_step=run.current_step,
            error=error,
        ):
            logger.warning("Failed training run %s: %s", run.pk, error)
            drop_dead_task(run.task_id)
            discard_run_versions(run)
            remove_run_files(run.pk)
            announce(training_run_failed, run)
            reaped += 1
    return reaped


def dispatch_next_run() -> TrainingRun | None:
    """Give the oldest queued run a task when none is running and its own task is gone."""
    if TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exists():
        return None
    queued = TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED)
    run = queued.order_by("created_at").first()
    if run is None:
        return None
    if run.task_id and run.task_id in {t.task_id for t in list_queued_tasks()}:
        return None
    enqueue_training_run(run.pk)
    return run


def discard_run_versions(run: TrainingRun) -> None:
    """Delete the versions and artifacts a failed run registered; one that was set as active
    meanwhile stays (the registry keeps every version that predicted)."""
    for version in ModelVersion.objects.filter(training_run=run):
        try:
            delete_model_version(version=version)
        except Conflict:
            continue


def run_workdir(run_id: Any) -> Path:
    """A new temporary folder for a run's local copies, named after the run."""
    return Path(tempfile.mkdtemp(prefix=f"{RUN_TEMP_PREFIX}{run_id}-", dir=scratch_root()))


def remove_run_files(run_id: Any) -> None:
    """Remove the temporary folders a run left behind (its process died before it could)."""
    for folder in scratch_root().glob(f"{RUN_TEMP_PREFIX}{run_id}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def claim_training_run(run_id: Any) -> TrainingRun | None:
    """Mark a queued run running if no other run is; None if it cannot start now."""
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = TrainingRun.objects.filter(
                pk=run_id, status=TrainingRun.Status.QUEUED
            ).update(
                status=TrainingRun.Status.RUNNING,
                running_key=RUNNING_KEY,
                started_at=now,
                heartbeat_at=now,
            )
    except IntegrityError:
        # Another run holds the running key: this one stays queued, and that run's end (or
        # the reaper) gives it a task again. The worker never waits here.
        return None
    if claimed != 1:
        return None
    return TrainingRun.objects.get(pk=run_id)


def execute_training_run(
    run_id: Any, *, on_progress: Callable[[TrainingRun], None] | None = None
) -> TrainingRun | None:
    """Run a queued run to the end (pipeline, registry, comparison) or fail it cleanly.

    None when the run cannot start now (another is running: it stays queued) or is not queued.
    """
    run = claim_training_run(run_id)
    if run is None:
        return None
    try:
        with Heartbeat(
            lambda: beat_run(run.pk),
            every=settings.CROSSLINE_HEARTBEAT_SECONDS,
            name=f"run-heartbeat-{run.pk}",
        ):
            _execute_claimed_run(run, RunRecorder(run, on_progress))
    finally:
        dispatch_next_run()
    return TrainingRun.objects.get(pk=run.pk)


def _execute_claimed_run(run: TrainingRun, recorder: RunRecorder) -> None:
    step_name = ""
    workdir = run_workdir(run.pk)
    try:
        _, definition = get_pipeline_definition(run.pipeline_name)
        datasets = list(list_ready_datasets().order_by("uploaded_at"))
        TrainingRun.objects.filter(pk=run.pk).update(dataset_ids=[str(d.pk) for d in datasets])
        recorder.log(f"{len(datasets)} datasets, pipeline {definition.name!r}")
        try:
            inputs = {
                "results_files": local_copies(datasets, DatasetKind.RESULTS, workdir),
                "defects_files": local_copies(datasets, DatasetKind.DEFECTS, workdir),
            }
            outcome = run_pipeline(
                definition,
                inputs,
                params=settings_params(),
                on_step=recorder.step,
                log=recorder.log,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        step_name = SAVE_STEP
        recorder.step(SAVE_STEP, recorder.total)
        result = outcome["result"]
        data = {"datasets": [
            {"id": str(d.pk), "kind": d.kind, "sha256": d.sha256, "name": d.original_name}
            for d in datasets
        ]}
        versions = register_run_versions(run, result, definition.name, data)
        record_references(run, outcome, versions, recorder.log)
        comparison = compare_with_active(versions, result)
    except Exception as exc:
        cause = exc.original if isinstance(exc, StepFailed) else exc
        failed_step = (
            exc.step_name if isinstance(exc, StepFailed) else step_name or recorder.run.current_step
        )
        error = f"{type(cause).__name__}: {cause}"
        if close_run(
            run,
            TrainingRun.Status.FAILED,
            from_status=TrainingRun.Status.RUNNING,
            failed_step=failed_step,
            error=error,
            log=recorder.append(f"failed in step {failed_step!r}: {error}"),
        ):  # else the reaper failed it first, and said so
            announce(training_run_failed, run)
        discard_run_versions(run)
        raise
    metrics = {kind: version_metrics(v) for kind, v in versions.items()}
    succeeded = close_run(
        run,
        TrainingRun.Status.SUCCEEDED,
        from_status=TrainingRun.Status.RUNNING,
        progress=100,
        metrics=metrics,
        skipped=result["skipped"],
        outcomes=kind_outcomes(result, {k: v.model_name for k, v in versions.items()}),
        comparison=comparison,
        log=recorder.append(registered_line(
            {k: (v.model_name, None if v.eligible else v.eligibility) for k, v in versions.items()},
            result.get("failed", {}), get_fail_group_labels(),
        )),
    )
    if not succeeded:
        # The reaper declared this run dead meanwhile: its word stands, and what the run
        # registered since goes too. Nothing was activated: activation follows success.
        logger.warning("Training run %s finished after it was failed; discarding it", run.pk)
        discard_run_versions(run)
        return
    for kind, version in versions.items():
        model_version_registered.send_robust(
            sender=ModelVersion, version=version, run=run, comparison=comparison["kinds"].get(kind)
        )
    promoted = apply_first_activation_or_promotion(run, versions, comparison)
    if promoted:
        TrainingRun.objects.filter(pk=run.pk).update(
            log=recorder.append(f"activated {', '.join(promoted)}")
        )
    announce(training_run_succeeded, run)


def announce(signal: Any, run: TrainingRun) -> None:
    """Send a finished run's signal with the run as stored; a receiver's error never fails it."""
    signal.send_robust(sender=TrainingRun, run=TrainingRun.objects.get(pk=run.pk))


def settings_params() -> dict[str, Any]:
    """Pipeline parameters set by the operator in the environment, overriding the definition."""
    overrides = {"target_recall": settings.CROSSLINE_TARGET_RECALL,
                 "min_positives": settings.CROSSLINE_MIN_POSITIVES,
                 "drift_min_vehicles": settings.CROSSLINE_DRIFT_MIN_VEHICLES}
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
