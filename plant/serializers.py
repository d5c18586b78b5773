"""Plant's REST shapes: datasets (upload in, dataset with its report out) and vehicles."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crossline.api import FormSerializer, ModelSerializer
from crossline.api_fields import DocumentSerializer
from plant.models import Dataset, DatasetKind, Vehicle
from plant.readers.report import DROPPED, KEPT, REJECTED


class DatasetUploadSerializer(FormSerializer):
    """A plant export to import, and its kind."""

    kind = serializers.ChoiceField(choices=DatasetKind.choices)
    file = serializers.FileField(
        allow_empty_file=True, help_text="CSV, gzip'd CSV, .xlsx or Parquet."
    )


class ProblemExampleSerializer(DocumentSerializer):
    """One row an import problem was found in."""

    row = serializers.IntegerField(help_text="The row's number in the file.")
    field = serializers.CharField()
    value = serializers.CharField(allow_null=True, help_text="The value as read; null if empty.")


class ProblemSerializer(DocumentSerializer):
    """How often one problem occurred in an export, what was done, the first examples."""

    field = serializers.CharField()
    action = serializers.ChoiceField(
        choices=[REJECTED, KEPT, DROPPED],
        help_text="rejected: the row was left out; kept: the row was kept with the value "
        "emptied; dropped: the row carries nothing to keep (e.g. a defect of no fail group).",
    )
    count = serializers.IntegerField()
    examples = ProblemExampleSerializer(many=True)


class ImportReportSerializer(DocumentSerializer):
    """What happened to an export's rows, with the problems found (by reason)."""

    kind = serializers.ChoiceField(choices=DatasetKind.choices)
    filename = serializers.CharField()
    rows_read = serializers.IntegerField()
    rows_accepted = serializers.IntegerField()
    rows_rejected = serializers.IntegerField()
    rows_dropped = serializers.IntegerField()
    values_unparseable = serializers.IntegerField()
    problems = serializers.DictField(
        child=ProblemSerializer(), help_text="Reason → how often, what was done, examples."
    )


class DatasetSerializer(ModelSerializer):
    """An imported plant export with its validation report."""

    report = ImportReportSerializer(
        read_only=True, allow_null=True, help_text="Null until the import has finished."
    )

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
    dataset_ids = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The exports it comes from."
    )

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
