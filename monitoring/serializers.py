"""REST representations of monitoring: every field typed, nested objects as serializers, so that
a client generated from the schema reads them as they are."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from crossline.api import MONTH_PATTERN
from monitoring.models import Verdict

KIND_HELP = "A model kind: fail, or group_ and a fail group's code (group_2)."


class DriftQuery(serializers.Serializer):
    kind = serializers.RegexField(r"^(fail|group_[0-9]+)$", max_length=40, help_text=KIND_HELP)
    month = serializers.RegexField(
        MONTH_PATTERN, required=False,
        help_text="The month shown in detail, YYYY-MM (default: the latest month judged).",
    )
    model_name = serializers.CharField(
        required=False, max_length=100,
        help_text="A version of the kind (default: the active one), e.g. fail-v3.",
    )


class PerformanceQuery(serializers.Serializer):
    kind = serializers.RegexField(r"^(fail|group_[0-9]+)$", max_length=40, help_text=KIND_HELP)
    model_name = serializers.CharField(
        required=False, max_length=100,
        help_text="A version of the kind (default: the active one), e.g. fail-v3.",
    )


class MonthDriftSerializer(serializers.Serializer):
    """One production month's drift verdict."""

    month = serializers.RegexField(MONTH_PATTERN)
    vehicles = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=[Verdict.TOO_FEW, Verdict.NO_ALARM, Verdict.ALARM],
        help_text="too_few (fewer vehicles than the minimum), no_alarm or alarm.",
    )
    alarm = serializers.BooleanField()
    drifted_share = serializers.FloatField(
        allow_null=True, help_text="Share of the columns the model relies on most that drifted."
    )
    considered = serializers.IntegerField(help_text="Columns the alarm counts (50 at most).")
    drifted_columns = serializers.ListField(child=serializers.CharField())
    trained_on = serializers.BooleanField(
        help_text="The version learned from vehicles of this month."
    )


class ColumnBinsSerializer(serializers.Serializer):
    """A column's bins (or values), with the reference's shares and the month's."""

    labels = serializers.ListField(child=serializers.CharField())
    reference = serializers.ListField(child=serializers.FloatField())
    month = serializers.ListField(child=serializers.FloatField())


class DriftColumnSerializer(serializers.Serializer):
    """One feature column of a month: its distance to the reference and its missing shares."""

    column = serializers.CharField(help_text="The feature column, e.g. value|SECTION_ZP8#2|2.")
    label = serializers.CharField(help_text="The column in the team's words.")
    method = serializers.ChoiceField(choices=["wasserstein", "jensen_shannon"])
    score = serializers.FloatField(allow_null=True, help_text="Null: no value this month.")
    threshold = serializers.FloatField()
    drifted = serializers.BooleanField()
    by = serializers.ListField(
        child=serializers.ChoiceField(choices=["distance", "missing"]),
        help_text="What drifted: the distance, the missing share, or both.",
    )
    missing_reference = serializers.FloatField(help_text="Missing share in the reference.")
    missing_now = serializers.FloatField(help_text="Missing share this month.")
    missing_change = serializers.FloatField()
    missing_threshold = serializers.FloatField()
    rank = serializers.IntegerField(
        allow_null=True, help_text="1 for the column the model relies on most."
    )
    importance = serializers.FloatField()
    bins = ColumnBinsSerializer(allow_null=True)


class MonthDriftDetailSerializer(MonthDriftSerializer):
    """A month's verdict with its columns, ranked by importance × drift."""

    checked_at = serializers.DateTimeField()
    columns = DriftColumnSerializer(many=True)


# One report per kind, though the route is a viewset's list.
@extend_schema_serializer(many=False)
class DriftReportSerializer(serializers.Serializer):
    """A kind's input drift, month by month, and one month in detail."""

    kind = serializers.CharField()
    model_name = serializers.CharField(help_text="The version checked.")
    alarm_share = serializers.FloatField(
        allow_null=True,
        help_text="The alarm line: the share of drifted columns that raises an alarm (the "
        "fewest drifted columns chance explains in 0.1% of months, over those considered; "
        "above 1 when the model relies on too few columns to alarm; null before any check).",
    )
    rule = serializers.CharField()
    months = MonthDriftSerializer(many=True)
    month = MonthDriftDetailSerializer(allow_null=True)


class MetricsSerializer(serializers.Serializer):
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    flagged_share = serializers.FloatField(allow_null=True)


class BandSerializer(serializers.Serializer):
    """Mean ± 3 standard deviations of a metric over the reference's months."""

    mean = serializers.FloatField()
    std = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()


class BandsSerializer(serializers.Serializer):
    precision = BandSerializer(allow_null=True)
    recall = BandSerializer(allow_null=True)
    flagged_share = BandSerializer(allow_null=True)


class MonthPerformanceSerializer(serializers.Serializer):
    """A month's estimated metrics at the version's threshold, and the realised ones once its
    labelling window closed."""

    month = serializers.RegexField(MONTH_PATTERN)
    vehicles = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=Verdict.choices,
        help_text="no_alarm or alarm (an estimate outside its band); too_few, training (the "
        "version learned from this month: not estimated) or no_reference.",
    )
    alarm = serializers.BooleanField()
    trained_on = serializers.BooleanField()
    threshold = serializers.FloatField(allow_null=True)
    estimated = MetricsSerializer(allow_null=True)
    realised = MetricsSerializer(allow_null=True)
    difference = MetricsSerializer(allow_null=True, help_text="Realised minus estimated.")
    outside_band = serializers.ListField(child=serializers.CharField())
    window_closed = serializers.BooleanField()


# One report per kind, though the route is a viewset's list.
@extend_schema_serializer(many=False)
class PerformanceReportSerializer(serializers.Serializer):
    """A kind's estimated against realised performance, month by month."""

    kind = serializers.CharField()
    model_name = serializers.CharField()
    threshold = serializers.FloatField()
    band = BandsSerializer()
    months = MonthPerformanceSerializer(many=True)
