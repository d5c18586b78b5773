"""Plant's REST shapes: datasets (upload in, dataset with its report out) and vehicles."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crossline.api import FormSerializer, ModelSerializer
from plant.models import Dataset, DatasetKind, Vehicle


class DatasetUploadSerializer(FormSerializer):
    """A plant export to import, and its kind."""

    kind = serializers.ChoiceField(choices=DatasetKind.choices)
    file = serializers.FileField(
        allow_empty_file=True, help_text="CSV, gzip'd CSV, .xlsx or Parquet."
    )


class DatasetSerializer(ModelSerializer):
    """An imported plant export with its validation report."""

    url = serializers.HyperlinkedIdentityField(view_name="dataset-detail", read_only=True)
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
            "predictions",
            "predicted_count",
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
