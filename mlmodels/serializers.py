"""REST representations of the model registry, with the original's field names."""

from rest_framework import serializers

from crossline.api import ModelSerializer
from mlmodels.models import Activation, ModelVersion, ThresholdPolicy
from mlmodels.selectors import get_active_version_ids


class ModelVersionSerializer(ModelSerializer):
    """A model version with its test-set metrics; `using`: the active version of its kind;
    `archived`: kept but retired."""

    using = serializers.SerializerMethodField()
    estimator = serializers.SerializerMethodField()
    archived = serializers.BooleanField(
        read_only=True, help_text="Kept, but out of the default list and never set as active."
    )

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
            "mcc",
            "confusion_matrix",
            "support",
            "threshold",
            "threshold_policy",
            "flagged_share",
            "test_positives",
            "test_prevalence",
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

    override = serializers.BooleanField(
        default=False, help_text="Activate a version below the activation gate."
    )
    reason = serializers.CharField(
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
