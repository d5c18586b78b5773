"""Predictions: the current prediction per KNR, its history, batches."""

from django.conf import settings
from django.db import models

from crossline.numbers import percent


def _risk_words(value: float | None) -> str:
    if value is None:
        return "no model may predict it"
    return f"{percent(value)} likely to have a defect"


class Prediction(models.Model):
    """The current prediction for one KNR, made by the active model versions."""

    knr = models.CharField("KNR", max_length=12, unique=True)
    p_fail = models.FloatField(
        null=True, help_text="Probability of any defect; empty when no fail model may predict."
    )
    # One meaning of "flagged": on the worklist. With an inspection capacity, among the
    # production day's riskiest vehicles within it; without, the fail model or any fail-group
    # model over its threshold.
    predicted_fail = models.BooleanField(
        "flagged", db_index=True, help_text="On the worklist: among its production day's "
        "riskiest vehicles within the inspection capacity, or, with none set, the fail model or "
        "a fail-group model over its threshold."
    )
    flagged_by = models.JSONField(
        default=list,
        help_text="Kinds over their threshold: “fail”, or “group_” and a fail group's code.",
    )
    probabilities = models.JSONField(default=dict, help_text="Fail group → probability.")
    predicted_fail_codes = models.JSONField(default=list)
    no_model_groups = models.JSONField(
        default=list, help_text="Fail groups with no model able to predict: not guessed."
    )
    # Codes framed by commas (",2,4,") so that one fail group is a portable `contains`.
    predicted_codes_text = models.CharField(max_length=255, blank=True, default="")
    indicated_tests = models.JSONField(default=list)
    model_versions = models.JSONField(default=dict, help_text="Kind → model name used.")
    risk = models.FloatField(
        null=True, blank=True, db_index=True,
        help_text="Probability of at least one defect the inspections would find: the "
        "worklist's order. Empty when no model may predict it.",
    )
    explanation = models.JSONField(
        default=list, blank=True,
        help_text="The test results that raised the risk most, for a flagged vehicle.",
    )
    real_fail_codes = models.JSONField(null=True, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    produced_at = models.DateTimeField(
        null=True, blank=True, db_index=True,
        help_text="The vehicle's last test: its production month in the statistics.",
    )
    created_at = models.DateTimeField(db_index=True)
    # Bumped by every replacement: the compare-and-set key, and the key of the history row
    # that keeps this prediction once it is replaced.
    generation = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Vehicle {self.knr}: {_risk_words(self.p_fail)}"


class PredictionHistory(models.Model):
    """An earlier prediction for a KNR, kept when it was replaced."""

    knr = models.CharField("KNR", max_length=12, db_index=True)
    p_fail = models.FloatField(null=True)
    probabilities = models.JSONField(default=dict)
    predicted_fail_codes = models.JSONField(default=list)
    indicated_tests = models.JSONField(default=list)
    model_versions = models.JSONField(default=dict)
    flagged_by = models.JSONField(default=list)
    risk = models.FloatField(null=True, blank=True)
    real_fail_codes = models.JSONField(null=True, blank=True)
    produced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    replaced_at = models.DateTimeField()
    generation = models.PositiveIntegerField(
        default=0, help_text="The replaced prediction's generation: one row per replacement."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "prediction history"
        constraints = [
            # A write retried after a failure part-way finds the row it wrote and adds none.
            models.UniqueConstraint(
                fields=["knr", "generation"], name="one_history_row_per_replaced_prediction"
            )
        ]

    def __str__(self) -> str:
        return f"{self.knr} at {self.created_at:%Y-%m-%d %H:%M}"


class Worklist(Prediction):
    """The worklist: each production day's flagged vehicles by risk (a view of predictions,
    with an admin page of its own)."""

    class Meta:
        proxy = True
        verbose_name = "worklist"
        verbose_name_plural = "worklist"


class BatchPrediction(models.Model):
    """Predicting many KNRs at once, from an uploaded results file, since a date, or the KNRs
    chosen in the predictions list ("Predict again")."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    source_file = models.CharField(max_length=255, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    knrs = models.JSONField(
        default=list, blank=True, help_text="The KNRs chosen in the predictions list."
    )
    knr_count = models.PositiveIntegerField(default=0)
    predicted_count = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="Times a worker started this batch; above 1, the worker running it stopped "
        "and another started it again.",
    )
    result_file = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # No status: a heading must not go stale while the batch's progress moves on.
        return f"Batch {self.pk}"


class InspectionCapacity(models.Model):
    """The plant's one inspection capacity, and the labelling window beside it: a single row.

    A capacity is a share of each production day's vehicles, or a number of vehicles per
    day, or none (each model kind's threshold policy decides then). Absent: no capacity, and
    the window of the setting CROSSLINE_LABEL_WINDOW_DAYS. One of share and vehicles per day
    at most (`predictions.capacity.set_inspection_capacity` checks it: MongoDB has no check
    constraints).
    """

    SINGLETON = "plant"

    # Unique and always the same: a second row cannot be created, even by two racing writes.
    key = models.CharField(max_length=10, unique=True, default=SINGLETON, editable=False)
    share = models.FloatField(
        null=True, blank=True,
        help_text="Share of each production day's vehicles the team inspects, in (0, 1]: "
        "0.2 means 20%.",
    )
    vehicles_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Or: vehicles the team inspects per production day."
    )
    label_window_days = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Days after a vehicle's last test within which a defect counts; later, no "
        "defect recorded means defect-free. Empty: the setting CROSSLINE_LABEL_WINDOW_DAYS.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "inspection capacity"
        verbose_name_plural = "inspection capacity"

    def __str__(self) -> str:
        if self.share is not None:
            return f"{self.share:.0%} of each day's vehicles"
        if self.vehicles_per_day is not None:
            return f"{self.vehicles_per_day} vehicles per day"
        return "no capacity set"
