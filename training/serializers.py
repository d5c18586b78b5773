"""Training's REST shapes: datasets (upload in, dataset with its report out) and vehicles."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crossline.api import ModelSerializer
from training.models import Dataset, DatasetKind, PipelineDefinition, TrainingRun, Vehicle

# ---------------------------------------------------------------------------------------------
# Datasets and vehicles
# ---------------------------------------------------------------------------------------------


class DatasetUploadSerializer(serializers.Serializer):
    """A multipart upload: the export and its kind."""

    kind = serializers.ChoiceField(choices=DatasetKind.choices)
    file = serializers.FileField(allow_empty_file=True)


class DatasetSerializer(ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="dataset-detail", read_only=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "url",
            "kind",
            "original_name",
            "size_bytes",
            "sha256",
            "status",
            "error",
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
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields


class VehicleSerializer(ModelSerializer):
    fail_groups = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Vehicle
        fields = [
            "id",
            "knr",
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
    at = serializers.CharField()
    name = serializers.CharField()
    family = serializers.IntegerField()
    unit = serializers.CharField(allow_null=True)
    value_id = serializers.FloatField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    dataset_id = serializers.CharField()


class VehicleDefectSerializer(serializers.Serializer):
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
    """A vehicle with every test and every recorded defect (from `get_vehicle_detail`)."""

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
    class Meta:
        model = PipelineDefinition
        fields = ["id", "name", "description", "definition", "is_shipped", "updated_at"]


class TrainingRunSerializer(ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="trainingrun-detail", read_only=True)

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


class TrainRequestSerializer(serializers.Serializer):
    """A training request; files given are imported first (defects `df_falhas`, results)."""

    pipeline = serializers.CharField(required=False, default="default")
    df_falhas = serializers.FileField(required=False, help_text="A defects export.")
    df_resultados = serializers.FileField(required=False, help_text="A test-results export.")
