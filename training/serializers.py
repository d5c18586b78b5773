"""Training's REST shapes: datasets (upload in, dataset with its report out) and vehicles."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crossline.api import FormSerializer, ModelSerializer
from training.models import Dataset, DatasetKind, PipelineDefinition, TrainingRun, Vehicle

# ---------------------------------------------------------------------------------------------
# Datasets and vehicles
# ---------------------------------------------------------------------------------------------


class DatasetUploadSerializer(FormSerializer):
    """A plant export to import, and its kind."""

    kind = serializers.ChoiceField(choices=DatasetKind.choices)
    file = serializers.FileField(
        allow_empty_file=True, help_text="CSV, gzip'd CSV, .xlsx or Parquet."
    )


class DatasetSerializer(ModelSerializer):
    """An imported plant export with its validation report."""

    uploaded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True,
        help_text="Who uploaded it; null for a command-line import.",
    )
    file = serializers.CharField(
        read_only=True, help_text="Where crossline keeps the accepted rows, normalised."
    )

    class Meta:
        model = Dataset
        fields = [
            "id",
            "kind",
            "original_name",
            "size_bytes",
            "sha256",
            "status",
            "progress",
            "rows_read",
            "rows_accepted",
            "rows_rejected",
            "rows_dropped",
            "values_unparseable",
            "knr_count",
            "first_at",
            "last_at",
            "report",
            "file",
            "uploaded_by",
            "uploaded_at",
            "finished_at",
        ]
        read_only_fields = fields


class VehicleSerializer(ModelSerializer):
    """A vehicle: its tests and defects summed up."""

    KNR = serializers.CharField(source="knr", read_only=True)
    fail_groups = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Vehicle
        fields = [
            "id",
            "KNR",
            "first_test_at",
            "last_test_at",
            "test_count",
            "nok_count",
            "defect_count",
            "has_defects",
            "fail_groups",
            "dataset_ids",
            "updated_at",
        ]
        read_only_fields = fields


class VehicleTestSerializer(serializers.Serializer):
    """One test result of a vehicle."""

    at = serializers.CharField()
    name = serializers.CharField()
    family = serializers.IntegerField()
    unit = serializers.CharField(allow_null=True)
    value_id = serializers.FloatField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    dataset_id = serializers.CharField()


class VehicleDefectSerializer(serializers.Serializer):
    """One recorded defect of a vehicle."""

    at = serializers.CharField()
    fail_group = serializers.IntegerField()
    defect = serializers.CharField(allow_null=True)
    station = serializers.CharField(allow_null=True)
    hall = serializers.CharField(allow_null=True)
    inspector = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    colour = serializers.CharField(allow_null=True)
    engine = serializers.CharField(allow_null=True)
    dataset_id = serializers.CharField()


class VehicleDetailSerializer(VehicleSerializer):
    """A vehicle with every test and every recorded defect."""

    tests = VehicleTestSerializer(many=True, read_only=True)
    defects = VehicleDefectSerializer(many=True, read_only=True)

    class Meta(VehicleSerializer.Meta):
        fields = [*VehicleSerializer.Meta.fields, "tests", "defects"]
        read_only_fields = fields

    def to_representation(self, detail: Any) -> dict[str, Any]:
        data = super().to_representation(detail.vehicle)
        data["tests"] = VehicleTestSerializer(detail.tests, many=True).data
        data["defects"] = VehicleDefectSerializer(detail.defects, many=True).data
        return data


# ---------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------


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
