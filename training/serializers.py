"""Training's REST shapes: pipeline definitions, runs and what to train with."""

from __future__ import annotations

from rest_framework import serializers

from crossline.api import FormSerializer, ModelSerializer
from training.models import PipelineDefinition, TrainingRun


class PipelineDefinitionSerializer(ModelSerializer):
    """A pipeline definition: the registered steps a training run executes, in order."""

    class Meta:
        model = PipelineDefinition
        fields = ["id", "name", "description", "definition", "is_shipped", "updated_at"]


class TrainingRunSerializer(ModelSerializer):
    """A training or retraining run: status, progress, log, metrics and the comparison."""

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
