"""Admin of the model registry: versions by kind with their metrics, set as active, compare."""

from collections.abc import Callable, Sequence

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from crossline.exceptions import AlreadyActive, Conflict, CrosslineError, IneligibleVersion
from mlmodels import thresholds
from mlmodels.hooks import realised_metrics_by_version
from mlmodels.models import Activation, ActiveModel, ModelVersion, ThresholdPolicy
from mlmodels.selectors import get_active_version, get_active_version_ids, list_active_versions
from mlmodels.services import (
    METRIC_FIELDS,
    activate_model_version,
    delete_model_version,
    recompute_thresholds,
    set_threshold_policy,
)

METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1_score": "F1",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "mcc": "MCC",
    "threshold": "Threshold",
    "flagged_share": "Flagged",
}


def _percent(value: float | None) -> int:
    """A metric in [0, 1] as a whole percentage for a bar's width (0 when unknown)."""
    return round(min(max(value or 0.0, 0.0), 1.0) * 100)


def _metric(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Registry records change only through mlmodels.services, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Versions listed by kind with their metrics; the active version of each kind is marked."""

    change_list_template = "admin/mlmodels/modelversion/change_list.html"
    list_filter = ["type_model"]
    search_fields = ["model_name"]
    ordering = ["type_model", "-version"]
    actions = ["set_as_active", "compare_with_active", "delete_selected"]
    readonly_fields = [field.name for field in ModelVersion._meta.fields]

    def get_list_display(self, request: HttpRequest) -> Sequence[str | Callable]:
        # One query per page for the active marker, not one per row.
        active_ids = get_active_version_ids()

        @admin.display(boolean=True, description="active")
        def active(version: ModelVersion) -> bool:
            return version.pk in active_ids

        # Realised quality from the team's feedback (real defects of predicted KNRs), beside
        # the test-set metrics; computed once per page by the app that keeps the feedback.
        realised = realised_metrics_by_version()

        @admin.display(description="realised recall / precision / PR-AUC (n)")
        def realised_metrics(version: ModelVersion) -> str:
            found = realised.get(version.model_name)
            if not found:
                return "-"
            return (
                f"{_metric(found.get('recall'))} / {_metric(found.get('precision'))} / "
                f"{_metric(found.get('pr_auc'))} ({found['n']})"
            )

        return [
            "model_name",
            "type_model",
            "version",
            active,
            "eligible_column",
            *[
                self._metric_column(field)
                for field in (
                    "pr_auc", "recall", "precision", "flagged_share", "f1_score", "roc_auc", "mcc"
                )
            ],
            realised_metrics,
            "threshold",
            "created_at",
            "last_used",
            "compare_link",
        ]

    @staticmethod
    def _metric_column(field: str) -> Callable:
        @admin.display(description=METRIC_LABELS[field], ordering=field)
        def column(version: ModelVersion) -> str:
            return _metric(getattr(version, field))

        column.__name__ = field
        return column

    @admin.display(description="activation gate", ordering="eligible")
    def eligible_column(self, version: ModelVersion) -> str:
        return "eligible" if version.eligible else f"below: {version.eligibility}"

    @admin.display(description="compare")
    def compare_link(self, version: ModelVersion) -> str:
        url = reverse("admin:mlmodels_modelversion_compare", args=[version.pk])
        return format_html('<a href="{}">compare with active</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff

    def get_urls(self) -> list:
        compare = path(
            "<path:object_id>/compare/",
            self.admin_site.admin_view(self.compare_view),
            name="mlmodels_modelversion_compare",
        )
        # Before the defaults: their `<path:object_id>/` catch-all would take it otherwise.
        return [compare, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        chart = [
            {
                "type_model": kind,
                "model_name": version.model_name,
                "pr_auc": _metric(version.pr_auc),
                "pr_auc_percent": _percent(version.pr_auc),
                "recall": _metric(version.recall),
                "recall_percent": _percent(version.recall),
            }
            for kind, version in sorted(list_active_versions().items())
        ]
        return super().changelist_view(request, {**(extra_context or {}), "active_chart": chart})

    @admin.action(description="Set as active", permissions=["activate"])
    def set_as_active(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        versions = list(queryset[:2])
        if len(versions) != 1:
            self.message_user(
                request, "Select exactly one version to set as active.", messages.ERROR
            )
            return
        (version,) = versions
        self._activate(request, version)

    @admin.action(description="Compare with active", permissions=["view"])
    def compare_with_active(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        versions = list(queryset[:2])
        if len(versions) != 1:
            self.message_user(request, "Select exactly one version to compare.", messages.ERROR)
            return None
        url = reverse("admin:mlmodels_modelversion_compare", args=[versions[0].pk])
        return HttpResponseRedirect(url)

    @admin.action(description="Delete selected model versions", permissions=["delete"])
    def delete_selected(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        active = [v.model_name for v in queryset if v.pk in get_active_version_ids()]
        if active:
            self.message_user(
                request,
                f"Not deleted: {', '.join(active)} is active. Set another version as active first.",
                messages.ERROR,
            )
            return None
        return django_delete_selected(self, request, queryset)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        version = self.get_object(request, unquote(object_id))
        if version is not None and version.pk in get_active_version_ids():
            self.message_user(
                request,
                f"{version.model_name} is the active {version.type_model} model and cannot be "
                "deleted. Set another version as active first.",
                messages.ERROR,
            )
            return HttpResponseRedirect(
                reverse("admin:mlmodels_modelversion_change", args=[version.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A version's activation history goes with it; that history is read-only in the admin,
        # which must not make every once-active version undeletable.
        perms_needed.discard(Activation._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        delete_model_version(version=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            try:
                delete_model_version(version=version)
            except Conflict as error:
                self.message_user(request, str(error), messages.ERROR)

    def compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The challenger's metrics beside the active version's of the same kind."""
        challenger = self.get_object(request, unquote(object_id))
        if challenger is None:
            self.message_user(request, "That model version does not exist.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:mlmodels_modelversion_changelist"))
        if not self.has_view_permission(request, challenger):
            raise PermissionDenied
        if request.method == "POST" and "set_active" in request.POST:
            if not self.has_activate_permission(request):
                raise PermissionDenied
            self._activate(request, challenger)
            return HttpResponseRedirect(request.path)
        active = get_active_version(challenger.type_model)
        rows = []
        for field in (*METRIC_FIELDS, "flagged_share", "threshold"):
            mine = getattr(challenger, field)
            theirs = getattr(active, field) if active else None
            difference = mine - theirs if mine is not None and theirs is not None else None
            rows.append(
                {
                    "label": METRIC_LABELS[field],
                    "challenger": _metric(mine),
                    "active": _metric(theirs),
                    "difference": "–" if difference is None else f"{difference:+.3f}",
                    "better": difference is not None and difference > 0,
                    "worse": difference is not None and difference < 0,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Compare {challenger.model_name} with the active {challenger.type_model}",
            "challenger": challenger,
            "active": active,
            "is_active": active is not None and active.pk == challenger.pk,
            "rows": rows,
            "can_activate": self.has_activate_permission(request),
        }
        return TemplateResponse(request, "admin/mlmodels/modelversion/compare.html", context)

    def _activate(self, request: HttpRequest, version: ModelVersion) -> None:
        try:
            activation = activate_model_version(
                version=version, user=request.user, reason="set as active (admin)"
            )
        except AlreadyActive as done:
            self.message_user(request, str(done), messages.INFO)
            return
        except IneligibleVersion:
            self.message_user(
                request,
                f"{version.model_name} was not set as active: it is below the activation gate "
                f"({version.eligibility}). Activating it needs an explicit override with a "
                "reason (the API's set-active with override and reason, or `manage.py "
                f'set_active_model {version.model_name} --override --reason "…"`).',
                messages.ERROR,
            )
            return
        except CrosslineError as error:
            self.message_user(request, f"{version.model_name} was not set as active: {error}",
                              messages.ERROR)
            return
        previous = activation.previous_version
        was = f" (was {previous.model_name})" if previous else ""
        self.message_user(
            request,
            f"{version.model_name} is now the active {version.type_model} model{was}.",
            messages.SUCCESS,
        )


@admin.register(ActiveModel)
class ActiveModelAdmin(ReadOnlyAdmin):
    """Which version predicts for each kind: kind → version, when, by whom."""

    list_display = ["type_model", "version", "override", "generation", "activated_at",
                    "activated_by"]
    list_select_related = ["version", "activated_by"]


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin):
    """History of activations, newest first."""

    list_display = [
        "activated_at",
        "type_model",
        "sequence",
        "version",
        "previous_version",
        "override",
        "activated_by",
        "reason",
    ]
    list_filter = ["type_model"]
    list_select_related = ["version", "previous_version", "activated_by"]


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
