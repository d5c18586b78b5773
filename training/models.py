"""Training's data: pipeline definitions and training runs."""

import uuid

from django.conf import settings
from django.db import models


def new_run_key() -> str:
    """A unique placeholder for a training run's open or running key."""
    return uuid.uuid4().hex


class PipelineDefinition(models.Model):
    """A named pipeline: registered steps in order, with their inputs and outputs (JSON)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    definition = models.JSONField()
    is_shipped = models.BooleanField(default=False, help_text="Loaded from training/pipelines.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingRun(models.Model):
    """One training or retraining run, executed by a django-q2 worker."""

    # The last step of every run, after the pipeline's own: registering the versions.
    SAVE_STEP = "save"

    class Kind(models.TextChoices):
        TRAIN = "train", "Train"
        RETRAIN = "retrain", "Retrain"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TRAIN)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    pipeline_name = models.CharField(max_length=100, default="default")
    pipeline = models.JSONField(default=dict, blank=True, help_text="The definition as run.")
    dataset_ids = models.JSONField(default=list, blank=True)
    current_step = models.CharField(max_length=100, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    log = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    skipped = models.JSONField(default=dict, blank=True)
    outcomes = models.JSONField(
        default=list,
        blank=True,
        help_text="Each kind's outcome: trained (with which candidate), failed (with the error) "
        "or skipped (too few positives).",
    )
    comparison = models.JSONField(default=dict, blank=True)
    failed_step = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # Two rules held by unique keys, without transactions: no two identical runs open (the
    # run's fingerprint while it is queued or running) and one run running at a time
    # ("running"). A finished run frees both by writing its own id into them.
    open_key = models.CharField(max_length=80, unique=True, default=new_run_key, editable=False)
    running_key = models.CharField(
        max_length=80, unique=True, default=new_run_key, editable=False
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # No status: a heading must not go stale while the run's progress moves on.
        return f"{self.get_kind_display()} run {self.pk}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
