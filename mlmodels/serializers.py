"""REST representations of the model registry, with the original's field names."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crossline.api import ModelSerializer, StrictCharField, StrictJSONBooleanField
from crossline.api_fields import DocumentSerializer
from mlmodels.models import Activation, ModelVersion, ThresholdPolicy
from mlmodels.selectors import get_active_version_ids

# A version as a URL names it: its primary key (a number on SQLite, an ObjectId on MongoDB) or
# its model name (`fail-v2`, `group_2-v1`).
VERSION_REF = r"[0-9]{1,18}|[0-9a-f]{24}|(fail|group_[0-9]{1,18})-v[0-9]{1,18}"


class TrainingDatasetSerializer(DocumentSerializer):
    """An export a version was trained on, as it was then."""

    id = serializers.CharField()
    kind = serializers.CharField()
    sha256 = serializers.CharField()
    name = serializers.CharField(allow_blank=True, help_text="The export's file name.")


class TrainingDataSerializer(DocumentSerializer):
    """The data a version was trained on."""

    missing = {"datasets": []}

    datasets = TrainingDatasetSerializer(many=True)


class ModelVersionSerializer(ModelSerializer):
    """A model version with its test-set metrics; `using`: the active version of its kind;
    `archived`: kept but retired."""

    using = serializers.SerializerMethodField()
    estimator = serializers.SerializerMethodField()
    archived = serializers.BooleanField(
        read_only=True, help_text="Kept, but out of the default list and never set as active."
    )
    confusion_matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()), read_only=True,
        help_text="[[true negatives, false positives], [false negatives, true positives]] on "
        "the test set at the threshold.",
    )
    support = serializers.DictField(
        child=serializers.IntegerField(), read_only=True,
        help_text="Vehicles per class of the test set.",
    )
    library_versions = serializers.DictField(
        child=serializers.CharField(), read_only=True,
        help_text="Library → version it was trained with.",
    )
    data = TrainingDataSerializer(read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model_name",
            "type_model",
            "version",
            "accuracy",
            "precision",
            "recall",
            "f1_score",
            "roc_auc",
            "pr_auc",
            "plain_pr_auc",
            "mcc",
            "confusion_matrix",
            "support",
            "threshold",
            "threshold_policy",
            "flagged_share",
            "test_positives",
            "test_prevalence",
            "judged_folds",
            "judged_vehicles",
            "judged_positives",
            "judged_pr_auc",
            "judged_plain_pr_auc",
            "eligible",
            "eligibility",
            "estimator",
            "artifact_sha256",
            "training_run",
            "library_versions",
            "data",
            "last_used",
            "using",
            "archived",
            "archived_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_estimator(self, version: ModelVersion) -> str:
        """What predicts: the candidate training chose, or how a fail model joins the groups."""
        return version.estimator

    def get_using(self, version: ModelVersion) -> bool:
        # Views put the active ids in the context once per response, not one query per row.
        active_ids = self.context.get("active_version_ids")
        if active_ids is None:
            active_ids = self.context["active_version_ids"] = get_active_version_ids()
        return version.pk in active_ids


class ActivationSerializer(ModelSerializer):
    """One entry of the activation history: `version` is a number, as a model's `version` is."""

    model_name = serializers.CharField(source="version.model_name", read_only=True)
    version = serializers.IntegerField(source="version.version", read_only=True)
    previous_model_name = serializers.CharField(
        source="previous_version.model_name", read_only=True, allow_null=True, default=None
    )
    previous_version = serializers.IntegerField(
        source="previous_version.version", read_only=True, allow_null=True, default=None
    )
    activated_by = serializers.CharField(
        source="activated_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Activation
        fields = [
            "id",
            "type_model",
            "model_name",
            "version",
            "previous_model_name",
            "previous_version",
            "activated_by",
            "activated_at",
            "sequence",
            "override",
            "reason",
        ]
        read_only_fields = fields


class SetActiveSerializer(serializers.Serializer):
    """Input of `POST /api/models/{id}/set-active/`: an override of the gate needs a reason."""

    override = StrictJSONBooleanField(
        default=False, help_text="Activate a version below the activation gate."
    )
    reason = StrictCharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="Why; kept in the activation history (required with override).",
    )


class SetActiveResultSerializer(ModelVersionSerializer):
    """The version after `set-active`, with what happened in words."""

    detail = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "detail"]
        read_only_fields = fields

    def get_detail(self, version: ModelVersion) -> str:
        return self.context.get("detail", "")


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1})
class ShareField(serializers.FloatField):
    """A share in (0, 1]."""


class F2PolicySerializer(serializers.Serializer):
    """The default policy: the threshold maximising F2 on held-out scores. It takes no value
    (leave `value` out, or null)."""

    policy = serializers.ChoiceField(choices=[ThresholdPolicy.Policy.F2])


class SharePolicySerializer(serializers.Serializer):
    """An inspection capacity or a recall target, with its share."""

    policy = serializers.ChoiceField(
        choices=[ThresholdPolicy.Policy.CAPACITY, ThresholdPolicy.Policy.RECALL]
    )
    value = ShareField(
        help_text="capacity: the share of vehicles the team can inspect; recall: the share of "
        "defective vehicles to flag. Above 0, at most 1.",
    )


class ThresholdPolicySerializer(ModelSerializer):
    """How one kind's decision threshold is chosen; writing it recomputes the thresholds."""

    updated_by = serializers.CharField(
        source="updated_by.username", read_only=True, allow_null=True, default=None
    )
    # A kind with no stored policy is shown with the default one, never updated.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ThresholdPolicy
        fields = ["type_model", "policy", "value", "updated_by", "updated_at"]
        # The kind comes from the URL; the service validates and writes.
        read_only_fields = ["type_model", "updated_by", "updated_at"]
        extra_kwargs = {"policy": {"required": True}}


class SelectModelSerializer(SetActiveSerializer):
    """The model version to set as active, by name (below the gate: override and reason)."""

    model_name = serializers.CharField(max_length=100)


# --- versions compared side by side ------------------------------------------------------------


class ComparedMetricsSerializer(serializers.Serializer):
    """Test-set metrics of a version (or differences between two; null where undefined)."""

    pr_auc = serializers.FloatField(allow_null=True)
    plain_pr_auc = serializers.FloatField(
        allow_null=True, help_text="The plain approach's, fitted on the same vehicles."
    )
    roc_auc = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    flagged_share = serializers.FloatField(allow_null=True)
    f1_score = serializers.FloatField(allow_null=True)
    mcc = serializers.FloatField(allow_null=True)
    accuracy = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)


class ComparedVersionSerializer(serializers.Serializer):
    """One version compared: its metrics and its differences from the first version."""

    id = serializers.CharField(source="version.pk")
    model_name = serializers.CharField(source="version.model_name")
    version = serializers.IntegerField(source="version.version")
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField(source="version.created_at")
    n_test = serializers.IntegerField(
        source="version.n_test", help_text="Vehicles in its own test set."
    )
    metrics = ComparedMetricsSerializer()
    differences = ComparedMetricsSerializer(
        help_text="This version minus the first; all null for the first version."
    )
    better = serializers.ListField(
        child=serializers.CharField(), help_text="Scores higher than the first version's."
    )
    worse = serializers.ListField(
        child=serializers.CharField(), help_text="Scores lower than the first version's."
    )


class VersionComparisonSerializer(serializers.Serializer):
    """Versions of one kind side by side, as the admin's comparison page shows them."""

    type_model = serializers.CharField()
    versions = ComparedVersionSerializer(
        many=True, help_text="The active version first when it is compared, then newest first."
    )


VERSION_REFS = rf"^({VERSION_REF})(,({VERSION_REF}))*$"


class CompareQuery(serializers.Serializer):
    ids = serializers.RegexField(
        VERSION_REFS,
        max_length=2000,
        help_text="Comma-separated version ids or names (`fail-v1,fail-v2`), of one kind.",
    )

    def validate_ids(self, value: str) -> list[str]:
        return value.split(",")
