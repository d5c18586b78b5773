"""Training's REST shapes: pipeline definitions, runs and what to train with."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crossline.api import ModelSerializer
from crossline.api_fields import DocumentSerializer
from training.models import PipelineDefinition, TrainingRun
from training.pipeline.outcomes import FAILED, SKIPPED, TRAINED


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "string"}},
        ],
        "description": "The step's inputs in order, or by its argument names.",
    }
)
class StepInputsField(serializers.JSONField):
    """A step's inputs: a list of names, or argument name → name."""


class PipelineStepSerializer(DocumentSerializer):
    """One registered step of a pipeline, with the names it reads and writes."""

    missing = {"inputs": []}

    step = serializers.CharField(help_text="A registered step's name.")
    inputs = StepInputsField()
    outputs = serializers.ListField(child=serializers.CharField())


class PipelineDocumentSerializer(DocumentSerializer):
    """A pipeline definition as stored: its steps in order and their parameters."""

    missing = {"description": "", "params": {}}

    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    steps = PipelineStepSerializer(many=True)
    params = serializers.DictField(
        child=serializers.JSONField(),
        help_text="The parameters steps read (`params:<name>`), each a JSON value of the "
        "pipeline's own choosing.",
    )


class PipelineDefinitionSerializer(ModelSerializer):
    """A pipeline definition: the registered steps a training run executes, in order."""

    definition = PipelineDocumentSerializer(read_only=True)

    class Meta:
        model = PipelineDefinition
        fields = ["id", "name", "description", "definition", "is_shipped", "updated_at"]


class CandidateErrorSerializer(serializers.Serializer):
    """A candidate estimator that failed to fit or score, and why."""

    candidate = serializers.CharField(help_text="The candidate, as the pipeline names it.")
    error = serializers.CharField(help_text="The error's type and message.")


class KindOutcomeSerializer(serializers.Serializer):
    """What a run did with one model kind."""

    kind = serializers.CharField(help_text="`fail` or `group_<code>`.")
    status = serializers.ChoiceField(
        choices=[TRAINED, FAILED, SKIPPED],
        help_text="trained: a version was registered; failed: see `error`; skipped: too few "
        "positives.",
    )
    model_name = serializers.CharField(
        allow_null=True, help_text="The version registered; null unless trained."
    )
    estimator = serializers.CharField(
        allow_null=True, help_text="The candidate chosen; null unless trained."
    )
    positives = serializers.IntegerField(
        allow_null=True, help_text="Vehicles with this kind's defect in the training period."
    )
    step = serializers.CharField(allow_null=True, help_text="Where it failed; null unless failed.")
    error = serializers.CharField(allow_null=True, help_text="Why it failed; null unless failed.")
    candidate_errors = CandidateErrorSerializer(
        many=True, help_text="Candidates that failed, the kind training on the others."
    )


class JudgedSerializer(DocumentSerializer):
    """What a version was chosen and gated on: every vehicle judged out of time."""

    folds = serializers.IntegerField(
        allow_null=True, help_text="Blocks of the training period, and the test set."
    )
    vehicles = serializers.IntegerField(allow_null=True)
    positives = serializers.IntegerField(allow_null=True)
    pr_auc = serializers.FloatField(allow_null=True, help_text="The version's, over them.")
    plain_pr_auc = serializers.FloatField(
        allow_null=True, help_text="The plain approach's, over them."
    )


class TestSetMetricsSerializer(DocumentSerializer):
    """A model's metrics on a test set, at its decision threshold (null where undefined)."""

    # Runs recorded by earlier releases lack what was added since.
    missing = {
        "flagged_share": None, "brier": None, "ece": None, "threshold_policy": None,
        "eligible": None, "eligibility": None, "model_name": None, "plain_pr_auc": None,
        "judged": None,
    }

    accuracy = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    f1_score = serializers.FloatField(allow_null=True)
    roc_auc = serializers.FloatField(allow_null=True, help_text="Null with one class only.")
    pr_auc = serializers.FloatField(allow_null=True, help_text="Null without positives.")
    plain_pr_auc = serializers.FloatField(
        allow_null=True, help_text="The plain approach's, fitted on the same vehicles; null "
        "for the active version scored on a retrain's test set."
    )
    mcc = serializers.FloatField(allow_null=True)
    brier = serializers.FloatField(allow_null=True)
    ece = serializers.FloatField(allow_null=True, help_text="Expected calibration error.")
    flagged_share = serializers.FloatField(
        allow_null=True, help_text="Share of the test set's vehicles flagged."
    )
    confusion_matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="[[true negatives, false positives], [false negatives, true positives]].",
    )
    support = serializers.DictField(
        child=serializers.IntegerField(), help_text="Vehicles per class of the test set."
    )
    threshold = serializers.FloatField()
    threshold_policy = serializers.CharField(allow_null=True, allow_blank=True)
    eligible = serializers.BooleanField(
        allow_null=True, help_text="Clears the activation gate; null for a version not registered."
    )
    eligibility = serializers.CharField(allow_null=True, allow_blank=True)
    model_name = serializers.CharField(
        allow_null=True, help_text="The version these are of; null for the active version "
        "scored on a retrain's test set."
    )
    judged = JudgedSerializer(
        allow_null=True, help_text="What the version was chosen and gated on; null as above."
    )


class TestSetSerializer(DocumentSerializer):
    """The vehicles a run held out to test on (the latest by production time)."""

    knrs = serializers.IntegerField()
    first_knr = serializers.CharField()
    last_knr = serializers.CharField()


class KindComparisonSerializer(DocumentSerializer):
    """A new version beside the active version of its kind, on the same test set."""

    new_model = serializers.CharField()
    new_model_metrics = TestSetMetricsSerializer()
    last_model = serializers.CharField(
        allow_null=True, help_text="The active version; null when none was active."
    )
    last_model_metrics = TestSetMetricsSerializer(allow_null=True)
    differences = serializers.DictField(
        child=serializers.FloatField(), allow_null=True,
        help_text="Metric → new minus active; null without an active version.",
    )
    message = serializers.CharField()


class RunComparisonSerializer(DocumentSerializer):
    """Each new version against the active version of its kind, on the run's test set."""

    test_set = TestSetSerializer()
    metric = serializers.CharField(help_text="The metric that decides which is better.")
    kinds = serializers.DictField(child=KindComparisonSerializer(), help_text="Kind → comparison.")


class TrainingRunSerializer(ModelSerializer):
    """A training or retraining run: status, progress, log, metrics, each kind's outcome and the
    comparison."""

    outcomes = KindOutcomeSerializer(many=True, read_only=True)

    dataset_ids = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The exports it trained on."
    )
    metrics = serializers.DictField(
        child=TestSetMetricsSerializer(), read_only=True,
        help_text="Kind → the registered version's test-set metrics; empty until it succeeded.",
    )
    skipped = serializers.DictField(
        child=serializers.IntegerField(), read_only=True,
        help_text="Kind → its positive examples, too few to train on.",
    )
    comparison = RunComparisonSerializer(
        read_only=True, allow_null=True, help_text="Null until the run has succeeded."
    )

    duration_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Null until the run has finished."
    )
    url = serializers.HyperlinkedIdentityField(view_name="trainingrun-detail", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True,
        help_text="Who asked for it; null for the command line.",
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "url",
            "kind",
            "status",
            "pipeline_name",
            "current_step",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "dataset_ids",
            "metrics",
            "skipped",
            "outcomes",
            "comparison",
            "failed_step",
            "error",
            "log",
            "task_id",
            "requested_by",
        ]
        read_only_fields = fields


class TrainRequestSerializer(serializers.Serializer):
    """What to train: a pipeline definition (by its slug name), on every imported export."""

    pipeline = serializers.RegexField(
        r"^[-A-Za-z0-9_]+$", max_length=100, required=False, default="default",
        help_text="A pipeline definition's name.",
    )
