"""Clean up after imports that died: a silent import is failed, and whatever an import that
failed wrote (records, stored files, temporary folders) is removed, its vehicles recomputed."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from crossline.scratch import scratch_root
from crossline.taskqueue import drop_dead_task
from plant import files, vehicles
from plant.models import Dataset, VehicleRecord

logger = logging.getLogger(__name__)


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
            discard_import(dataset)
        except Exception:
            logger.exception("Could not clean up after import %s; next time", dataset.pk)
            continue
        Dataset.objects.filter(pk=dataset.pk, status=Dataset.Status.FAILED).update(
            heartbeat_at=None
        )
        logger.warning("Cleaned up after import %s (%s)", dataset.pk, dataset.original_name)
    return reaped


def discard_import(dataset: Dataset, *, knrs: Iterable[str] | None = None) -> None:
    """Remove what an import wrote: records, stored files, temporary folders; refresh vehicles.

    The dataset row stays (its caller deletes it or keeps it `failed`).
    """
    if knrs is None:
        knrs = set(
            VehicleRecord.objects.filter(dataset_id=dataset.pk).values_list("knr", flat=True)
        )
    VehicleRecord.objects.filter(dataset_id=dataset.pk).delete()
    Dataset.objects.filter(pk=dataset.pk).update(file="")
    for name in (dataset.file, files.stored_dataset_name(dataset), dataset.source_file):
        files.delete_stored(name, dataset)
    for folder in scratch_root().glob(f"{files.IMPORT_TEMP_PREFIX}{dataset.pk}-*"):
        shutil.rmtree(folder, ignore_errors=True)
    vehicles.refresh_vehicles(knrs)
