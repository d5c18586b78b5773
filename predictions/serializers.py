"""REST representations of predictions; `KNR` keeps the original API's field name."""

from typing import Any

from rest_framework import serializers

from crossline.api import ModelSerializer
from crossline.domain import KNR_FORMAT, KNR_MESSAGE, KNR_PATTERN
from predictions.models import BatchPrediction, IndicatedTest, Prediction, PredictionHistory


class PredictionSerializer(ModelSerializer):
    """A current prediction; only the indicated tests and the real fail codes are editable."""

    KNR = serializers.CharField(source="knr", read_only=True)
    indicated_tests = serializers.ListField(child=serializers.CharField(), required=False)
    real_fail_codes = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_null=True
    )

    class Meta:
        model = Prediction
        fields = [
            "KNR", "p_fail", "predicted_fail", "flagged_by", "probabilities",
            "predicted_fail_codes", "no_model_groups", "indicated_tests", "model_versions",
            "produced_at", "created_at", "real_fail_codes", "feedback_at",
        ]
        read_only_fields = [
            "p_fail", "predicted_fail", "flagged_by", "probabilities", "predicted_fail_codes",
            "no_model_groups", "model_versions", "produced_at", "created_at", "feedback_at",
        ]


class PredictionHistorySerializer(ModelSerializer):
    """An earlier prediction of a KNR."""

    KNR = serializers.CharField(source="knr", read_only=True)

    class Meta:
        model = PredictionHistory
        fields = [
            "KNR", "p_fail", "flagged_by", "probabilities", "predicted_fail_codes",
            "indicated_tests", "model_versions", "real_fail_codes", "produced_at", "created_at",
            "replaced_at",
        ]
        read_only_fields = fields


class PredictRequestSerializer(serializers.Serializer):
    """`{"KNR": …}`: predict one vehicle from its stored test results."""

    KNR = serializers.RegexField(
        rf"^{KNR_PATTERN}$", help_text=KNR_FORMAT, error_messages={"invalid": KNR_MESSAGE}
    )


class BatchRequestSerializer(serializers.Serializer):
    """A test-results export to predict, or a date: every vehicle first tested since then."""

    file = serializers.FileField(required=False)
    since = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("file" in attrs) == ("since" in attrs):
            raise serializers.ValidationError("Send either `file` or `since`.")
        return attrs


class BatchPredictionSerializer(ModelSerializer):
    """A batch's status and progress."""

    class Meta:
        model = BatchPrediction
        fields = [
            "id", "status", "original_name", "since", "knr_count", "predicted_count",
            "progress", "result_file", "error", "created_at", "finished_at",
        ]
        read_only_fields = fields


class IndicatedTestSerializer(ModelSerializer):
    """The inspections for one fail group."""

    class Meta:
        model = IndicatedTest
        fields = ["fail_group", "zone", "inspections"]
