"""Admin of the threshold policies: editing one (adding, changing or removing it) needs
`mlmodels.change_thresholdpolicy`, and recomputes the kind's thresholds."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from mlmodels import permissions, thresholds
from mlmodels.models import ModelVersion, ThresholdPolicy
from mlmodels.services import recompute_thresholds, set_threshold_policy


class ThresholdPolicyForm(forms.ModelForm):
    """A policy with its value checked as the thresholds module checks it."""

    class Meta:
        model = ThresholdPolicy
        fields = ["type_model", "policy", "value"]

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            cleaned["value"] = thresholds.validate_policy(
                cleaned.get("policy", ""), cleaned.get("value")
            )
        except ValueError as error:
            raise ValidationError({"value": str(error)}) from None
        kind = cleaned.get("type_model")
        if kind and not ModelVersion.objects.filter(type_model=kind).exists():
            raise ValidationError({"type_model": f"No model versions of kind {kind!r}."})
        return cleaned


@admin.register(ThresholdPolicy)
class ThresholdPolicyAdmin(admin.ModelAdmin):
    """Per kind, how the threshold is chosen; saving recomputes the kind's thresholds."""

    form = ThresholdPolicyForm
    list_display = ["type_model", "policy", "value", "updated_by", "updated_at"]
    list_select_related = ["updated_by"]

    # One permission edits policies: setting one, changing it, or removing it (back to F2).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.EDIT_THRESHOLDS)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(permissions.EDIT_THRESHOLDS)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(permissions.EDIT_THRESHOLDS)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # The kind is the record's identity: change the policy, not which kind it is for.
        return ["type_model"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ThresholdPolicy, form, change: bool) -> None:
        stored = set_threshold_policy(
            type_model=obj.type_model, policy=obj.policy, value=obj.value, user=request.user
        )
        obj.pk = stored.pk
        self.message_user(
            request,
            f"Thresholds of the {obj.type_model} versions recomputed "
            f"({thresholds.describe_policy(obj.policy, obj.value)}); the next prediction uses "
            "them.",
            messages.SUCCESS,
        )

    def delete_model(self, request: HttpRequest, obj: ThresholdPolicy) -> None:
        super().delete_model(request, obj)
        recompute_thresholds(type_model=obj.type_model)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        kinds = list(queryset.values_list("type_model", flat=True))
        super().delete_queryset(request, queryset)
        for kind in kinds:
            recompute_thresholds(type_model=kind)


