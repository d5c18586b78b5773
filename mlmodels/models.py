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
    threshold_policy = models.CharField(
        max_length=100, blank=True, help_text="How the threshold was chosen."
    )
    flagged_share = models.FloatField(
        null=True, help_text="Share of the test set's vehicles flagged at the threshold."
    )
    test_positives = models.PositiveIntegerField(null=True)
    test_prevalence = models.FloatField(null=True, help_text="PR-AUC of a no-skill model.")
    plain_pr_auc = models.FloatField(
        null=True,
        help_text="PR-AUC of the plain approach (a pivot of every test's value and NOK flag, "
        "one gradient-boosting model with scikit-learn's defaults) on the same test set.",
    )
    judged_folds = models.PositiveIntegerField(
        null=True,
        help_text="Consecutive time blocks the version was judged on: the latest blocks of the "
        "training period, each by a fit on the vehicles before it, and the test set.",
    )
    judged_vehicles = models.PositiveIntegerField(null=True)
    judged_positives = models.PositiveIntegerField(
        null=True, help_text="Positives among the judged vehicles: what the gate counts."
    )
    judged_pr_auc = models.FloatField(
        null=True, help_text="PR-AUC over every judged vehicle: what the gate weighs."
    )
    judged_plain_pr_auc = models.FloatField(
        null=True, help_text="The plain approach's PR-AUC over the same judged vehicles."
    )
    eligible = models.BooleanField(
        default=False, help_text="Clears the activation gate: may predict without an override."
    )
    eligibility = models.CharField(max_length=255, blank=True, help_text="Why (not) eligible.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    diagnostics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Precision-recall curve, calibration and top features on the test set.",
    )
    # Archived versions are kept (the registry deletes only versions that never predicted) but
    # left out of the default lists, and may not be set as active until unarchived.
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was archived; empty while it is not."
    )

    class Meta:
        ordering = ["type_model", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["type_model", "version"], name="unique_version_per_kind"
            )
        ]
        # Beside Django's add/change/delete/view; held by the "Quality lead" group.
        permissions = [
            ("activate_modelversion", "Can set a model version as active"),
            ("override_gate", "Can set a version below the activation gate as active"),
            ("archive_modelversion", "Can archive or unarchive a model version"),
        ]

    def __str__(self) -> str:
        return self.model_name

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def fail_group(self) -> int | None:
        """The fail group this kind predicts, or None for the fails-at-all kind."""
        return fail_group_of(self.type_model)

    @property
    def estimator(self) -> str:
        """What predicts, in a few words: the candidate training chose ("" if not recorded),
        or for a fail model joined with the group models, how it is joined."""
        diagnostics = self.diagnostics or {}
        chosen = diagnostics.get("estimator", "")
        if not diagnostics.get("combined_with"):
            return chosen
        weight = diagnostics.get("direct_weight", 0.5)
        if weight == 0:
            return "any fail group fails"
        return f"{chosen or 'a model of failing'} (weight {weight}) and any fail group fails"


class VersionScores(models.Model):
    """A version's held-out and test-set scores (`mlmodels.thresholds.encode_scores`).

    Kept apart from ModelVersion so that lists and predictions never load them; a threshold
    policy change recomputes thresholds and metrics from them without retraining.
    """

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    heldout = models.JSONField(null=True, blank=True)
    test = models.JSONField(null=True, blank=True)
    # The production month of each test score, as [month, count] runs in the scores' order:
    # the reference of the version's estimated performance is rebuilt from them whenever its
    # threshold changes (`mlmodels.references.get_performance_reference`).
    test_months = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "version scores"

    def __str__(self) -> str:
        return f"scores of {self.version_id}"


class ThresholdPolicy(models.Model):
    """How the decision threshold of one kind is chosen; absent means the default (F2)."""

    class Policy(models.TextChoices):
        F2 = "f2", "F2 maximised on held-out scores"
        CAPACITY = "capacity", "Inspection capacity (share of vehicles)"
        RECALL = "recall", "Recall target"

    type_model = models.CharField(
        max_length=40, unique=True, help_text="“fail”, or “group_” and a fail group's code."
    )
    policy = models.CharField(max_length=10, choices=Policy.choices, default=Policy.F2)
    value = models.FloatField(
        null=True, blank=True, help_text="Capacity or recall as a share in (0, 1]; empty for F2."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["type_model"]
        verbose_name_plural = "threshold policies"

    def __str__(self) -> str:
        value = "" if self.value is None else f" {self.value:g}"
        return f"{self.type_model}: {self.policy}{value}"


class ActiveModel(models.Model):
    """The pointer to the one active version of a kind: activating is one write on one row."""

    type_model = models.CharField(max_length=40, unique=True)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    # Bumped by every activation: the compare-and-set key, and the history's sequence number.
    generation = models.PositiveIntegerField(default=0)
    override = models.BooleanField(
        default=False, help_text="Activated below the gate by an explicit override."
    )
    activated_at = models.DateTimeField()
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["type_model"]

    def __str__(self) -> str:
        return f"{self.type_model} → {self.version_id}"


class Activation(models.Model):
    """History: who made which version active, when, replacing which.

    The history is an audit trail: a version it names cannot be deleted (PROTECT; on MongoDB
    Django's deletion collector enforces it), only archived; nor can the user it names (who
    leaves the team is made inactive, as Django advises, and the history keeps their name).
    """

    type_model = models.CharField(max_length=40, db_index=True)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="activations")
    previous_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    activated_at = models.DateTimeField()
    # The pointer's generation this activation produced: per kind, the history ordered by
    # sequence is one chain (each row's previous_version is the row before's version).
    sequence = models.PositiveIntegerField(default=0)
    override = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-activated_at", "-sequence"]

    def __str__(self) -> str:
        return f"{self.type_model}: {self.version_id} at {self.activated_at:%Y-%m-%d %H:%M}"


class DriftReference(models.Model):
    """The vehicles a training run read, binned once (`mlmodels.drift.build_reference`): what
    every version the run trained is checked against, month after month, for input drift.

    Kept as a gzip'd JSON file in storage (about 2 MiB of JSON at the plant's 2,000 feature
    columns), checked against its SHA-256 when read, as model artifacts are.
    """

    training_run = models.ForeignKey(
        "training.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drift_references",
    )
    feature_fingerprint = models.CharField(
        max_length=64, db_index=True, help_text="The fitted feature builder's fingerprint."
    )
    file = models.CharField(max_length=255, help_text="The reference (gzip'd JSON) in storage.")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0, help_text="Feature columns described.")
    vehicles = models.PositiveIntegerField(default=0)
    months = models.JSONField(default=dict, help_text="Production month → vehicles.")
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["training_run", "feature_fingerprint"], name="one_reference_per_run"
            )
        ]

    def __str__(self) -> str:
        months = sorted(self.months or {})
        span = f"{months[0]} to {months[-1]}" if months else "no months"
        return f"drift reference of {self.vehicles:,} vehicles, {span}"


class VersionReference(models.Model):
    """A version's side of its run's drift reference: the importances that rank the columns it
    relies on (the drift alarm counts the first 50 of them)."""

    version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="drift_ranking"
    )
    reference = models.ForeignKey(
        DriftReference, on_delete=models.PROTECT, related_name="version_references"
    )
    importances = models.JSONField(
        default=list, help_text="[column, importance] pairs, most important first."
    )

    def __str__(self) -> str:
        return f"drift reference of {self.version_id}"
