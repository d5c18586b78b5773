"""REST representations of predictions; `KNR` keeps the original API's field name."""

import functools
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from crossline.api import (
    MONTH_PATTERN,
    YEAR_MAX,
    YEAR_MIN,
    ModelSerializer,
    QueryIntegerField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from crossline.domain import KNR_FORMAT, KNR_MESSAGE, KNR_PATTERN
from crossline.exceptions import InvalidInput
from predictions.capacity import LABEL_WINDOW_MAX_DAYS, check_capacity, get_label_window_days
from predictions.feedback import STATES, Feedback, feedback_of
from predictions.models import BatchPrediction, Prediction, PredictionHistory


def flagged_by_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="Kinds over their threshold: `fail`, or `group_` and a fail group's code.",
    )


def probabilities_field() -> serializers.DictField:
    return serializers.DictField(
        child=serializers.FloatField(), read_only=True,
        help_text="Fail group code → probability of a defect in that group.",
    )


def fail_codes_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text=help_text
    )


def model_versions_field() -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text="Kind → the version used."
    )


class ReasonSerializer(serializers.Serializer):
    """A test result that raised a vehicle's risk: set to its typical value (the training
    median), the risk falls by `risk_drop`."""

    text = serializers.CharField(
        help_text="In the team's words: “SECTION_ZP8_00000001 screw 2 torque 31.2 Nm, typical "
        "25.8”."
    )
    feature = serializers.CharField(help_text="The model's input, e.g. "
                                    "`value|SECTION_ZP8_00000001#2|2`.")
    test = serializers.CharField(help_text="The test's NAME; empty for a vehicle-wide input.")
    value_id = serializers.CharField(help_text="The sub-result (VALUE_ID); empty if none.")
    unit = serializers.CharField(help_text="The reading's unit as the plant sends it.")
    reading = serializers.FloatField(allow_null=True, help_text="The vehicle's value.")
    typical = serializers.FloatField(help_text="The training median.")
    risk_drop = serializers.FloatField(help_text="How far the risk falls with the typical value.")


class PredictionSerializer(ModelSerializer):
    """A current prediction; staff may edit the indicated tests and the real fail codes."""

    KNR = serializers.CharField(source="knr", read_only=True)
    flagged_by = flagged_by_field()
    probabilities = probabilities_field()
    predicted_fail_codes = fail_codes_field("Fail groups whose model is over its threshold.")
    no_model_groups = fail_codes_field("Fail groups with no model able to predict: not guessed.")
    model_versions = model_versions_field()
    indicated_tests = serializers.ListField(child=StrictCharField(), required=False)
    real_fail_codes = serializers.ListField(
        child=StrictIntegerField(), required=False, allow_null=True,
        help_text="The fail groups the vehicle really failed in (feedback); null while unknown.",
    )
    feedback = serializers.SerializerMethodField(
        help_text="`defect`: defects recorded (`real_fail_codes`); `no_defect`: none recorded "
        "and the labelling window closed (or none set by hand); `waiting`: the window is open."
    )
    explanation = ReasonSerializer(
        many=True, read_only=True,
        help_text="Why a flagged vehicle is on the worklist: the test results that raised its "
        "risk most, strongest first.",
    )
    window_closes_at = serializers.SerializerMethodField(
        help_text="When the vehicle's labelling window closes (its last test plus the window); "
        "null without a production time."
    )

    def _feedback(self, prediction: Prediction) -> Feedback:
        # The window is read once per response, not once per prediction.
        days = self.context.get("label_window_days")
        if days is None:
            days = self.context["label_window_days"] = get_label_window_days()
        return feedback_of(prediction, window_days=days)

    @extend_schema_field(serializers.ChoiceField(choices=STATES))
    def get_feedback(self, prediction: Prediction) -> str:
        return self._feedback(prediction).state

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_window_closes_at(self, prediction: Prediction) -> str | None:
        closes = self._feedback(prediction).closes_at
        return serializers.DateTimeField().to_representation(closes) if closes else None

    def to_representation(self, instance: Prediction) -> dict[str, Any]:
        """DRF's own, with fields built once for every instance: building them per instance
        (deep copies of a dozen fields and of the nested reasons') cost more than a
        millisecond of every one-KNR request. The method fields are this instance's (they
        read its context); the others convert alike whatever the instance."""
        data: dict[str, Any] = {}
        for field in shared_fields(type(self)):
            if isinstance(field, serializers.SerializerMethodField):
                data[field.field_name] = getattr(self, field.method_name)(instance)
                continue
            try:
                value = field.get_attribute(instance)
            except SkipField:
                continue
            data[field.field_name] = None if value is None else field.to_representation(value)
        return data

    class Meta:
        model = Prediction
        fields = [
            "KNR", "p_fail", "risk", "predicted_fail", "flagged_by", "probabilities",
            "predicted_fail_codes", "no_model_groups", "indicated_tests", "explanation",
            "model_versions", "produced_at", "created_at", "real_fail_codes", "feedback_at",
            "feedback", "window_closes_at",
        ]
        read_only_fields = [
            "p_fail", "risk", "predicted_fail", "flagged_by", "probabilities",
            "predicted_fail_codes", "no_model_groups", "model_versions", "produced_at",
            "created_at", "feedback_at",
        ]


@functools.cache
def shared_fields(serializer: type[serializers.Serializer]) -> list[serializers.Field]:
    """A serializer class's readable fields, built once, on an instance without context."""
    return list(serializer()._readable_fields)


class PredictionHistorySerializer(ModelSerializer):
    """An earlier prediction of a KNR, replaced by a later one."""

    KNR = serializers.CharField(source="knr", read_only=True)
    flagged_by = flagged_by_field()
    probabilities = probabilities_field()
    predicted_fail_codes = fail_codes_field("Fail groups whose model was over its threshold.")
    indicated_tests = serializers.ListField(child=serializers.CharField(), read_only=True)
    model_versions = model_versions_field()
    real_fail_codes = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, allow_null=True
    )

    class Meta:
        model = PredictionHistory
        fields = [
            "KNR", "p_fail", "risk", "flagged_by", "probabilities", "predicted_fail_codes",
            "indicated_tests", "model_versions", "real_fail_codes", "produced_at", "created_at",
            "replaced_at",
        ]
        read_only_fields = fields


class PredictRequestSerializer(serializers.Serializer):
    """A vehicle to predict from its stored test results."""

    KNR = serializers.RegexField(
        rf"^{KNR_PATTERN}$",
        help_text=f"The vehicle's production number, {KNR_FORMAT}.",
        error_messages={"invalid": KNR_MESSAGE},
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # `knr` (the spelling of the database and the command line) is accepted as well.
        if hasattr(data, "get") and "KNR" not in data and "knr" in data:
            data = {"KNR": data.get("knr")}
        return super().to_internal_value(data)


class BatchFileSerializer(serializers.Serializer):
    """A test-results export to predict (CSV, gzip'd CSV, .xlsx or Parquet)."""

    file = serializers.FileField()


class BatchSinceSerializer(serializers.Serializer):
    """A date: every vehicle tested since then is predicted."""

    since = serializers.DateTimeField()


class BatchPredictionSerializer(ModelSerializer):
    """A batch prediction's status and progress; its CSV is at `result/` once it succeeded."""

    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = BatchPrediction
        fields = [
            "id", "status", "original_name", "since", "knr_count", "predicted_count",
            "progress", "attempts", "result_file", "error", "requested_by", "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class BatchStartedSerializer(BatchPredictionSerializer):
    """A batch just started: 201 with its predictions when it ran at once, 202 when queued."""

    url = serializers.URLField(read_only=True)
    predictions = PredictionSerializer(
        many=True, read_only=True, allow_null=True,
        help_text="The predictions when the batch ran at once (201); null when queued (202).",
    )

    class Meta(BatchPredictionSerializer.Meta):
        fields = [*BatchPredictionSerializer.Meta.fields, "url", "predictions"]
        read_only_fields = fields


# --- statistics --------------------------------------------------------------------------------


class FailCodeCountSerializer(serializers.Serializer):
    """How many current predictions name a fail group."""

    fail_code = serializers.IntegerField()
    zone = serializers.CharField()
    count = serializers.IntegerField(allow_null=True, help_text="Empty for a group with no model.")
    no_model = serializers.BooleanField(help_text="No active model may predict this group.")


class TotalFailsSerializer(serializers.Serializer):
    """Current predictions split into predicted to fail and not."""

    no_fails = serializers.IntegerField()
    fails = serializers.IntegerField()


class ByQuery(serializers.Serializer):
    by = serializers.ChoiceField(
        choices=["production", "created"], default="production",
        help_text="Count by the vehicle's production month (its last test) or by the month the "
        "prediction was made.",
    )


class PeriodQuery(ByQuery):
    year = QueryIntegerField(required=False, min_value=YEAR_MIN, max_value=YEAR_MAX)
    month = QueryIntegerField(
        required=False, min_value=1, max_value=12, help_text="1 to 12; needs the year."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "month" in attrs and "year" not in attrs:
            raise serializers.ValidationError({"month": "Give the year too."})
        return attrs


class FailCodesByMonthQuery(ByQuery):
    year = QueryIntegerField(min_value=YEAR_MIN, max_value=YEAR_MAX)
    fail_code = QueryIntegerField(
        required=False, min_value=0, help_text="A fail group; leave out for any defect."
    )


class MonthCountSerializer(serializers.Serializer):
    month = serializers.RegexField(MONTH_PATTERN)
    predicted = serializers.IntegerField()
    real = serializers.IntegerField()


class FailCodesByMonthSerializer(serializers.Serializer):
    """Predicted and real counts per month of a year."""

    year = serializers.IntegerField()
    fail_code = serializers.IntegerField(allow_null=True)
    by = serializers.ChoiceField(choices=["production", "created"])
    months = MonthCountSerializer(many=True)


class RealisedMetricsSerializer(serializers.Serializer):
    """Precision, recall and PR-AUC over the vehicles whose labelling window closed (null where
    undefined); `n` of them counted, `open` still waiting."""

    n = serializers.IntegerField()
    positives = serializers.IntegerField()
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    pr_auc = serializers.FloatField(allow_null=True)
    open = serializers.IntegerField(
        help_text="Vehicles still inside their labelling window: not counted yet."
    )


class RealisedByVersionSerializer(RealisedMetricsSerializer):
    type_model = serializers.CharField()


class RealisedByMonthSerializer(RealisedMetricsSerializer):
    month = serializers.RegexField(MONTH_PATTERN)
    type_model = serializers.CharField()


class RealisedMetricsReportSerializer(serializers.Serializer):
    """Realised metrics per model version (by name) and per month and kind."""

    by_version = serializers.DictField(child=RealisedByVersionSerializer())
    by_month = RealisedByMonthSerializer(many=True)


# --- the worklist and the inspection capacity ----------------------------------------------


@extend_schema_field({
    "type": "number", "format": "double", "minimum": 0, "exclusiveMinimum": True, "maximum": 1,
    "nullable": True,
})
class ShareField(StrictFloatField):
    """A share of a day's vehicles, in (0, 1]; the schema says so, as the view checks it."""


class InspectionCapacitySerializer(serializers.Serializer):
    """The plant's inspection capacity: a share of each production day's vehicles, or a number
    of vehicles per day, or neither (no cap: each model's threshold policy flags); and the
    labelling window."""

    share = ShareField(
        required=False, allow_null=True,
        help_text="Share of each production day's vehicles the team inspects, in (0, 1]: 0.2 "
        "means 20%.",
    )
    vehicles_per_day = StrictIntegerField(
        required=False, allow_null=True, min_value=1,
        help_text="Or: vehicles the team inspects per production day.",
    )
    label_window_days = StrictIntegerField(
        required=False, allow_null=True, min_value=0, max_value=LABEL_WINDOW_MAX_DAYS,
        help_text="Days after a vehicle's last test within which a defect counts; null: the "
        "setting CROSSLINE_LABEL_WINDOW_DAYS. Left out of a PUT: unchanged.",
    )
    label_window_in_force = serializers.IntegerField(
        read_only=True, help_text="The labelling window in days now (the team's or the default)."
    )
    description = serializers.CharField(read_only=True, help_text="The capacity in words.")
    updated_by = serializers.CharField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            check_capacity(
                share=attrs.get("share"), vehicles_per_day=attrs.get("vehicles_per_day")
            )
        except InvalidInput as error:
            raise serializers.ValidationError({error.field: [str(error)]}) from None
        return attrs


class WorklistQuery(serializers.Serializer):
    date = serializers.DateField(
        required=False, help_text="The production day, YYYY-MM-DD; left out: the latest."
    )
    to = serializers.DateField(
        required=False, help_text="The last production day of a range (from `date`)."
    )
    format = serializers.ChoiceField(
        choices=["json", "csv"], required=False, help_text="csv: the worklist as CSV."
    )


class WorklistGroupSerializer(serializers.Serializer):
    code = serializers.IntegerField()
    name = serializers.CharField(help_text="“4 Doors”: the code and the team's name.")
    probability = serializers.FloatField(allow_null=True)


class WorklistVehicleSerializer(serializers.Serializer):
    """A vehicle on the worklist, by risk."""

    rank = serializers.IntegerField()
    KNR = serializers.CharField()
    production_day = serializers.DateField(allow_null=True)
    risk = serializers.FloatField(allow_null=True)
    fail_groups = WorklistGroupSerializer(many=True, help_text="Most likely first.")
    indicated_tests = serializers.ListField(child=serializers.CharField())
    reasons = ReasonSerializer(many=True)


class WorklistDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    vehicles = serializers.IntegerField(help_text="Vehicles of the day predicted.")
    allowed = serializers.IntegerField(
        allow_null=True, help_text="The most the capacity lets it list; null without one."
    )
    listed = serializers.IntegerField()


class WorklistSerializer(serializers.Serializer):
    """The vehicles to inspect on production days `date` to `to`, riskiest first."""

    date = serializers.DateField()
    to = serializers.DateField()
    capacity = serializers.CharField(help_text="The capacity (or the policy) in force.")
    days = WorklistDaySerializer(many=True)
    vehicles = WorklistVehicleSerializer(many=True)
