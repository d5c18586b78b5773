"""Training's REST shapes: pipeline definitions, runs and what to train with."""

from __future__ import annotations

from rest_framework import serializers

from crossline.api import FormSerializer, ModelSerializer
from training.models import PipelineDefinition, TrainingRun
from training.pipeline.outcomes import FAILED, SKIPPED, TRAINED


class PipelineDefinitionSerializer(ModelSerializer):
    """A pipeline definition: the registered steps a training run executes, in order."""

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


class TrainingRunSerializer(ModelSerializer):
    """A training or retraining run: status, progress, log, metrics, each kind's outcome and the
    comparison."""

    outcomes = KindOutcomeSerializer(many=True, read_only=True)

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


class TrainRequestSerializer(FormSerializer):
    """What to train with; files given are imported first."""

    pipeline = serializers.CharField(
        required=False, default="default", help_text="A pipeline definition's name."
    )
    df_falhas = serializers.FileField(required=False, help_text="A defects export.")
    df_resultados = serializers.FileField(required=False, help_text="A test-results export.")
