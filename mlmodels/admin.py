"""Admin of the model registry: versions that explain themselves, compare, set as active,
archive; a version that ever predicted is never deleted."""

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from crossline import charts, dashboard, numbers
from crossline.domain import fail_group_label, group_kind, kind_label
from crossline.exceptions import AlreadyActive, Conflict, CrosslineError
from mlmodels import (
    admin_policies,  # noqa: F401 - registers the threshold policies' admin
    permissions,
    selectors,
)
from mlmodels.admin_history import KindFilter
from mlmodels.archive import archive_model_version, delete_model_version, unarchive_model_version
from mlmodels.comparison import comparison_error, order_for_comparison
from mlmodels.hooks import realised_metrics_by_version
from mlmodels.models import Activation, ModelVersion
from mlmodels.selectors import get_active_version, get_active_version_ids, list_active_versions
from mlmodels.services import activate_model_version
from mlmodels.version_pages import (
    SHOWN_METRICS,
    bar_width,
    calibration_chart,
    compare_url,
    comparison_context,
    confusion_context,
    eligibility,
    importance_context,
    judged_context,
    lineage,
    pr_chart,
)
from plant.admin_fail_groups import fail_group_labels_for

# The list keeps what a choice needs; F1, ROC-AUC and MCC are on each version's page.
LIST_METRICS = ("pr_auc", "recall", "precision", "flagged_share")


class ActivationForm(forms.Form):
    """The confirmation of "Set as active": why, kept in the activation history."""

    reason = forms.CharField(
        max_length=Activation._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why this version should predict from now on (kept in the history).",
    )
    override = forms.BooleanField(
        required=False,
        label="Activate although it is below the quality gate",
    )

    def __init__(self, *args: Any, may_override: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_override:
            # Without the permission the gate holds: no box to tick.
            del self.fields["override"]


class ArchivedFilter(admin.SimpleListFilter):
    """Archived versions are kept but not listed, unless asked for."""

    title = "archived"
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Archived"), ("all", "All")]

    def choices(self, changelist: Any):
        for choice in super().choices(changelist):
            if choice["query_string"] == changelist.get_query_string(remove=[self.parameter_name]):
                choice["display"] = "Not archived"
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "all":
            return queryset
        return queryset.filter(archived_at__isnull=self.value() != "yes")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Versions listed by kind with their metrics; the active version of each kind is marked."""

    change_list_template = "admin/mlmodels/modelversion/change_list.html"
    change_form_template = "admin/mlmodels/modelversion/change_form.html"
    list_filter = [KindFilter, ArchivedFilter]
    search_fields = ["model_name"]
    ordering = ["type_model", "-version"]
    actions = [
        "set_as_active", "compare_selected", "archive_selected", "unarchive_selected",
        "delete_selected",
    ]
    fields = [
        "model_name",
        "kind",
        "version",
        "pipeline_name",
        "training_run_link",
        "created_at",
        "last_used",
        "archived_at",
        "n_train",
        "n_test",
        "feature_count",
        "threshold_display",
        "libraries",
        "artifact_sha256",
    ]
    readonly_fields = fields

    def get_list_display(self, request: HttpRequest) -> Sequence[str | Callable]:
        # One query per page for the active marker and the names, not one per row.
        active_ids = get_active_version_ids()
        names = fail_group_labels_for(request)
        realised = realised_metrics_by_version()

        @admin.display(boolean=True, description="active")
        def active(version: ModelVersion) -> bool:
            return version.pk in active_ids

        @admin.display(description="predicts", ordering="type_model")
        def predicts(version: ModelVersion) -> str:
            return kind_label(version.type_model, names)

        @admin.display(description="realised recall / precision / PR-AUC (closed, open)")
        def realised_metrics(version: ModelVersion) -> str:
            found = realised.get(version.model_name)
            if not found:
                return "-"
            return (
                f"{numbers.percent(found.get('recall'))} / "
                f"{numbers.percent(found.get('precision'))} / "
                f"{numbers.significant(found.get('pr_auc'))} "
                f"({found['n']:,}, {found.get('open', 0):,} open)"
            )

        return [
            "model_name",
            predicts,
            active,
            "eligible_column",
            *[self._metric_column(field) for field in LIST_METRICS],
            realised_metrics,
            "threshold_display",
            "created_at",
            "last_used",
        ]

    @staticmethod
    def _metric_column(field: str) -> Callable:
        @admin.display(description=numbers.METRIC_LABELS[field], ordering=field)
        def column(version: ModelVersion) -> str:
            return numbers.metric(field, getattr(version, field))

        column.__name__ = field
        return column

    @admin.display(description="activation gate", ordering="eligible")
    def eligible_column(self, version: ModelVersion) -> str:
        return "eligible" if version.eligible else f"below: {version.eligibility}"

    @admin.display(description="predicts")
    def kind(self, version: ModelVersion) -> str:
        return f"{version.kind_label} ({version.type_model})"

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        version = super().get_object(request, object_id, from_field)
        if version is not None:
            # On this request's own instance (the admin is shared by every thread): what the
            # page's "predicts" shows, from the names read once for the page.
            version.kind_label = kind_label(version.type_model, fail_group_labels_for(request))
        return version

    @admin.display(description="threshold", ordering="threshold")
    def threshold_display(self, version: ModelVersion) -> str:
        return numbers.significant(version.threshold)

    @admin.display(description="libraries")
    def libraries(self, version: ModelVersion) -> str:
        return ", ".join(f"{name} {v}" for name, v in (version.library_versions or {}).items())

    @admin.display(description="training run")
    def training_run_link(self, version: ModelVersion) -> str:
        return str(version.training_run) if version.training_run_id else "–"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.ACTIVATE)

    def has_archive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.ARCHIVE)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A version that ever predicted is part of the audit trail: archived, never deleted.
        if obj is not None and selectors.was_ever_active(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        custom = [
            path("compare/", view(self.compare_view), name="mlmodels_modelversion_compare"),
            path(
                "<path:object_id>/compare/",
                view(self.compare_with_active_view),
                name="mlmodels_modelversion_compare_active",
            ),
            path(
                "<path:object_id>/activate/",
                view(self.activate_view),
                name="mlmodels_modelversion_activate",
            ),
        ]
        # Before the defaults: their `<path:object_id>/` catch-all would take them otherwise.
        return [*custom, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        names = fail_group_labels_for(request)
        chart = [
            {
                "type_model": kind,
                "label": kind_label(kind, names),
                "model_name": version.model_name,
                "pr_auc": numbers.significant(version.pr_auc),
                "pr_auc_percent": bar_width(version.pr_auc),
                "recall": numbers.percent(version.recall),
                "recall_percent": bar_width(version.recall),
            }
            for kind, version in sorted(list_active_versions().items())
        ]
        return super().changelist_view(request, {**(extra_context or {}), "active_chart": chart})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        version = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if version is not None:
            extra.update(self.version_context(request, version))
        return super().change_view(request, object_id, form_url, extra)

    def version_context(self, request: HttpRequest, version: ModelVersion) -> dict[str, Any]:
        """Everything the version page shows beyond its fields, rounded for people."""
        active = get_active_version(version.type_model)
        realised = realised_metrics_by_version().get(version.model_name) or {}
        return {
            "kind_label": version.kind_label,
            # The heading names the kind in the team's words beside the version's name.
            "subtitle": f"{version.model_name} · {version.kind_label}",
            "combined_groups": ", ".join(
                kind_label(kind, fail_group_labels_for(request))
                for kind in (version.diagnostics or {}).get("combined_with") or []
            ),
            "is_active": active is not None and active.pk == version.pk,
            "active": active,
            "eligibility": eligibility(version),
            "judged": judged_context(version),
            "can_activate": self.has_activate_permission(request) and not version.archived,
            "activate_url": reverse("admin:mlmodels_modelversion_activate", args=[version.pk]),
            "compare_url": reverse("admin:mlmodels_modelversion_compare"),
            "metrics": [
                {
                    "label": numbers.METRIC_LABELS[name],
                    "test": numbers.metric(name, getattr(version, name)),
                    "realised": numbers.metric(name, realised.get(name))
                    if name in ("recall", "precision", "pr_auc")
                    else "",
                }
                for name in SHOWN_METRICS
            ],
            "realised_n": realised.get("n"),
            "realised_open": realised.get("open"),
            "confusion": confusion_context(version),
            "pr_chart": pr_chart(version),
            "calibration_chart": calibration_chart(version),
            "importance": importance_context(version),
            "datasets": lineage(version),
            "training_run_url": reverse(
                "admin:training_trainingrun_change", args=[version.training_run_id]
            )
            if version.training_run_id
            else "",
            "siblings": [
                {"pk": other.pk, "name": other.model_name, "is_active": other.pk == getattr(
                    active, "pk", None)}
                for other in selectors.list_model_versions(type_model=version.type_model)
                if other.pk != version.pk
            ],
            "activations": list(
                Activation.objects.filter(version=version).select_related("activated_by")[:10]
            ),
        }

    @admin.action(description="Set as active…", permissions=["activate"])
    def set_as_active(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        versions = list(queryset[:2])
        if len(versions) != 1:
            self.message_user(
                request, "Select exactly one version to set as active.", messages.ERROR
            )
            return None
        version = versions[0]
        active = get_active_version(version.type_model)
        if active is not None and active.pk == version.pk:
            message = f"{version.model_name} is already the active {version.type_model} model."
            self.message_user(request, message, messages.INFO)
            return None
        return HttpResponseRedirect(
            reverse("admin:mlmodels_modelversion_activate", args=[version.pk])
        )

    @admin.action(description="Compare selected versions", permissions=["view"])
    def compare_selected(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        versions = list(queryset)
        error = comparison_error(versions)
        if error:
            self.message_user(request, error, messages.ERROR)
            return None
        return HttpResponseRedirect(compare_url([v.pk for v in versions]))

    @admin.action(description="Archive selected versions", permissions=["archive"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        done, refused = [], []
        for version in queryset:
            try:
                if archive_model_version(version=version):
                    done.append(version.model_name)
            except Conflict as error:
                refused.append(str(error))
        if done:
            self.message_user(request, f"Archived {', '.join(done)}.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description="Unarchive selected versions", permissions=["archive"])
    def unarchive_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        done = [v.model_name for v in queryset if unarchive_model_version(version=v)]
        self.message_user(
            request,
            f"Unarchived {', '.join(done)}." if done else "None of them was archived.",
            messages.SUCCESS if done else messages.INFO,
        )

    @admin.action(description="Delete selected model versions", permissions=["delete"])
    def delete_selected(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        versions = list(queryset)
        kept = selectors.get_ever_active_ids([v.pk for v in versions])
        if kept:
            names = ", ".join(v.model_name for v in versions if v.pk in kept)
            self.message_user(
                request,
                f"Nothing deleted: {names} predicted at some time and the registry keeps "
                "every version that did, with its history. Archive them instead.",
                messages.ERROR,
            )
            return None
        return django_delete_selected(self, request, queryset)

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        delete_model_version(version=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            try:
                delete_model_version(version=version)
            except Conflict as error:
                self.message_user(request, str(error), messages.ERROR)

    def compare_view(self, request: HttpRequest) -> HttpResponse:
        """Two or more versions of one kind side by side, differences from the first coloured."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [i for value in request.GET.getlist("ids") for i in value.split(",") if i]
        versions, _unknown = selectors.list_versions_by_refs(ids)
        error = comparison_error(versions)
        if error:
            self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:mlmodels_modelversion_changelist"))
        active = get_active_version(versions[0].type_model)
        versions = order_for_comparison(versions, active)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Compare {len(versions)} versions: "
            f"{kind_label(versions[0].type_model, fail_group_labels_for(request))}",
            **comparison_context(versions, active),
        }
        return TemplateResponse(request, "admin/mlmodels/modelversion/compare.html", context)

    def compare_with_active_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A version beside the active version of its kind (the older "compare" link)."""
        version = self.get_object(request, unquote(object_id))
        if version is None:
            self.message_user(request, "That model version does not exist.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:mlmodels_modelversion_changelist"))
        active = get_active_version(version.type_model)
        if active is None or active.pk == version.pk:
            state = "is the active version" if active else "has no active version to compare with"
            self.message_user(request, f"{version.model_name} {state}.", messages.WARNING)
            return HttpResponseRedirect(
                reverse("admin:mlmodels_modelversion_change", args=[version.pk])
            )
        return HttpResponseRedirect(compare_url([active.pk, version.pk]))

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm "Set as active": the comparison with the active version, and a reason."""
        version = self.get_object(request, unquote(object_id))
        if version is None:
            self.message_user(request, "That model version does not exist.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:mlmodels_modelversion_changelist"))
        if not self.has_activate_permission(request):
            raise PermissionDenied
        change_url = reverse("admin:mlmodels_modelversion_change", args=[version.pk])
        active = get_active_version(version.type_model)
        form = ActivationForm(
            request.POST or None, may_override=request.user.has_perm(permissions.OVERRIDE_GATE)
        )
        if request.method == "POST" and form.is_valid():
            override = form.cleaned_data.get("override", False)
            try:
                permissions.refuse_unless_may_activate(request.user, version, override=override)
                activate(
                    version=version,
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                    override=override,
                )
            except AlreadyActive as done:
                self.message_user(request, str(done), messages.INFO)
                return HttpResponseRedirect(change_url)
            except CrosslineError as error:
                form.add_error(None, str(error))
            else:
                was = f" (was {active.model_name})" if active and active.pk != version.pk else ""
                self.message_user(
                    request,
                    f"{version.model_name} is now the active {version.type_model} model{was}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
        shown = [version] if active is None or active.pk == version.pk else [active, version]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Set {version.model_name} as the active {version.kind_label} model?",
            "version": version,
            "change_url": change_url,
            "form": form,
            "is_active": active is not None and active.pk == version.pk,
            "eligibility": eligibility(version),
            "judged": judged_context(version),
            **comparison_context(shown, active),
        }
        return TemplateResponse(request, "admin/mlmodels/modelversion/activate.html", context)


def activate(*, version: ModelVersion, user: Any, reason: str, override: bool) -> None:
    """Set a version as active with the reason given (and the gate's override if asked)."""
    activate_model_version(version=version, user=user, reason=reason, override=override)


@dashboard.register
def dashboard_panel(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's active versions with their key metrics and age, and metric history."""
    names = fail_group_labels_for(request)
    active = sorted(list_active_versions().items(), key=lambda item: (item[0] != "fail", item[0]))
    history = selectors.list_metric_history("pr_auc")
    now = timezone.now()
    return {
        "active_versions": [
            {
                "label": kind_label(kind, names),
                "name": version.model_name,
                "url": reverse("admin:mlmodels_modelversion_change", args=[version.pk]),
                "pr_auc": numbers.significant(version.pr_auc),
                "recall": numbers.percent(version.recall),
                "precision": numbers.percent(version.precision),
                "created_at": version.created_at,
                "age_days": (now - version.created_at).days,
            }
            for kind, version in active
        ],
        # The team's fail groups that nothing predicts: their vehicles are not guessed.
        "groups_without_model": [
            fail_group_label(code, names)
            for code in sorted(names)
            if group_kind(code) not in dict(active)
        ],
        "history_chart": charts.line_chart(
            {
                kind_label(kind, names): points
                for kind, points in sorted(history.items(), key=lambda i: (i[0] != "fail", i[0]))
            },
            x_title="version",
            y_title="PR-AUC on its test set",
            x_integer=True,
        )
        if history
        else None,
    }
