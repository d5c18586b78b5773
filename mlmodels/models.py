"""The model registry: trained versions, the active version per kind, activation history."""

from django.conf import settings
from django.db import models

from crossline.domain import fail_group_of


class ModelVersion(models.Model):
    """A trained model: one fitted scikit-learn Pipeline stored as a joblib artifact."""

    type_model = models.CharField(
        max_length=40,
        db_index=True,
        help_text="“fail” (any defect) or “group_” and a fail group's code.",
    )
    model_name = models.CharField(max_length=100, unique=True)
    version = models.PositiveIntegerField()
    artifact_path = models.CharField(max_length=255)
    artifact_sha256 = models.CharField(max_length=64)
    training_run = models.ForeignKey(
        "training.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_versions",
    )
    data = models.JSONField(default=dict, blank=True, help_text="Datasets used, with hashes.")
    pipeline_name = models.CharField(max_length=100, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    feature_count = models.PositiveIntegerField(default=0)
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    accuracy = models.FloatField(null=True)
    precision = models.FloatField(null=True)
    recall = models.FloatField(null=True)
    f1_score = models.FloatField(null=True)
    roc_auc = models.FloatField(null=True)
    pr_auc = models.FloatField(null=True)
    mcc = models.FloatField(null=True)
    confusion_matrix = models.JSONField(default=list, blank=True)
    support = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    diagnostics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Precision-recall curve, calibration and top features on the test set.",
    )

    class Meta:
        ordering = ["type_model", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["type_model", "version"], name="unique_version_per_kind"
            )
        ]

    def __str__(self) -> str:
        return self.model_name

    @property
    def fail_group(self) -> int | None:
        """The fail group this kind predicts, or None for the fails-at-all kind."""
        return fail_group_of(self.type_model)


class ActiveModel(models.Model):
    """The pointer to the one active version of a kind: activating is one write on one row."""

    type_model = models.CharField(max_length=40, unique=True)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    activated_at = models.DateTimeField()
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["type_model"]

    def __str__(self) -> str:
        return f"{self.type_model} → {self.version_id}"


class Activation(models.Model):
    """History: who made which version active, when, replacing which."""

    type_model = models.CharField(max_length=40, db_index=True)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activations")
    previous_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    activated_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-activated_at"]

    def __str__(self) -> str:
        return f"{self.type_model}: {self.version_id} at {self.activated_at:%Y-%m-%d %H:%M}"
