"""Training's admin: training runs with their live progress, and pipeline definitions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from crossline import dashboard, numbers
from crossline.admin_site import ProgressAdminMixin
from crossline.domain import kind_label
from crossline.exceptions import DuplicateRun, InvalidPipeline, NothingToTrain
from plant.admin_fail_groups import fail_group_labels_for
from plant.selectors import list_datasets_by_ids
from training import runs, selectors
from training.models import PipelineDefinition, TrainingRun
from training.pipeline.definition import parse_definition


class PipelineDefinitionForm(forms.ModelForm):
    """Definitions name registered steps only; an unknown step or input is refused by name."""

    class Meta:
        model = PipelineDefinition
        fields = ["name", "description", "definition"]

    def clean_definition(self) -> dict:
        definition = self.cleaned_data["definition"]
        try:
            parse_definition(definition)
        except InvalidPipeline as exc:
            raise forms.ValidationError(str(exc)) from exc
        return definition


@admin.register(PipelineDefinition)
class PipelineDefinitionAdmin(admin.ModelAdmin):
    form = PipelineDefinitionForm
    list_display = ["name", "description", "is_shipped", "updated_at"]
    readonly_fields = ["is_shipped", "updated_at"]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        runs.sync_pipeline_definitions()
        return super().changelist_view(request, extra_context)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Shipped definitions come from training/pipelines/ and are re-read from there.
        if obj is not None and obj.is_shipped:
            return False
        return super().has_change_permission(request, obj)


@admin.register(TrainingRun)
class TrainingRunAdmin(ProgressAdminMixin, admin.ModelAdmin):
    change_list_template = "admin/training/trainingrun/change_list.html"
    change_form_template = "admin/training/trainingrun/change_form.html"
    list_display = [
        "__str__",
        "kind",
        "status",
        "progress_cell",
        "current_step",
        "pipeline_name",
        "created_at",
        "duration",
        "requested_by",
    ]
    list_filter = ["status", "kind", "pipeline_name"]
    actions = ["retrain"]
    fields = [
        "kind",
        "live_status",
        "pipeline_name",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "failed_step",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description="status")
    def live_status(self, run: TrainingRun) -> str:
        """The status as the progress bar shows it, kept up to date with it."""
        return format_html(
            '<span data-progress-field="status">{}</span>', run.get_status_display()
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_train_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    @admin.display(description="duration")
    def duration(self, run: TrainingRun) -> str:
        seconds = run.duration_seconds
        return "" if seconds is None else f"{seconds:.0f} s"

    def progress_state(self, run: TrainingRun) -> dict[str, Any]:
        index, total = selectors.get_run_step(run)
        done = run.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED)
        if run.status == TrainingRun.Status.QUEUED:
            step_text = "waiting for a worker"
        elif run.status == TrainingRun.Status.SUCCEEDED:
            step_text = f"all {total} steps done"
        elif run.status == TrainingRun.Status.FAILED:
            step_text = f"failed in step {run.failed_step or run.current_step or '?'}"
        elif index:
            step_text = f"step {index} of {total}: {run.current_step}"
        else:
            step_text = f"{total} steps"
        return {
            "status": run.status,
            "status_label": run.get_status_display(),
            "progress": run.progress,
            "step": index,
            "steps": total,
            "step_text": step_text,
            "log": run.log,
            "done": done,
            "title": str(run),
        }

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        run = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if run is not None:
            extra.update(self.run_context(run, fail_group_labels_for(request)))
        return super().change_view(request, object_id, form_url, extra)

    def run_context(self, run: TrainingRun, names: dict[int, str]) -> dict[str, Any]:
        """The run page: live progress, metrics per kind by name, comparison, datasets."""
        datasets = {str(d.pk): d for d in list_datasets_by_ids(run.dataset_ids)}
        versions = {v.type_model: v for v in run.model_versions.all()}
        metric_rows = [
            {
                "kind": kind,
                "label": kind_label(kind, names),
                "url": reverse("admin:mlmodels_modelversion_change", args=[versions[kind].pk])
                if kind in versions
                else "",
                "name": metrics.get("model_name", kind),
                "values": [numbers.metric(name, metrics.get(name)) for name in RUN_METRICS],
            }
            for kind, metrics in sorted(run.metrics.items())
        ]
        comparison = [
            {
                "label": kind_label(kind, names),
                "new_model": entry["new_model"],
                "new_pr_auc": numbers.significant((entry["new_model_metrics"] or {}).get("pr_auc")),
                "last_model": entry["last_model"] or "–",
                "last_pr_auc": numbers.significant(
                    (entry["last_model_metrics"] or {}).get("pr_auc")
                ),
                "message": entry["message"],
            }
            for kind, entry in sorted(run.comparison.get("kinds", {}).items())
        ]
        return {
            "progress": self.progress_state(run),
            "progress_url": self.progress_url(run),
            "metric_names": [numbers.METRIC_LABELS[name] for name in RUN_METRICS],
            "metric_rows": metric_rows,
            "comparison": comparison,
            "skipped": [
                {"label": kind_label(kind, names), "positives": positives}
                for kind, positives in sorted(run.skipped.items())
            ],
            "outcomes": [
                {**outcome, "label": kind_label(outcome["kind"], names)}
                for outcome in run.outcomes
            ],
            "datasets": [
                {
                    "name": str(datasets[str(pk)]) if str(pk) in datasets else f"dataset {pk}",
                    "url": reverse("admin:plant_dataset_change", args=[pk])
                    if str(pk) in datasets
                    else "",
                }
                for pk in run.dataset_ids
            ],
            "steps": [spec.get("step") for spec in run.pipeline.get("steps", [])]
            + [TrainingRun.SAVE_STEP],
        }

    @admin.action(
        description="Retrain (all stored data, the selected run's pipeline)", permissions=["train"]
    )
    def retrain(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        pipelines = {run.pipeline_name for run in queryset}
        if len(pipelines) != 1:
            self.message_user(request, "Select runs of one pipeline to retrain.", messages.ERROR)
            return
        self._start(request, TrainingRun.Kind.RETRAIN, pipelines.pop())

    def extra_urls(self) -> list:
        return [
            path("train/", self.admin_site.admin_view(self.train_view), name="training_train"),
        ]

    def train_view(self, request: HttpRequest) -> HttpResponse:
        """The changelist's "Train" and "Retrain" buttons (POST)."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        if not self.has_train_permission(request):
            raise PermissionDenied
        kind = request.POST.get("kind", TrainingRun.Kind.TRAIN)
        if kind not in TrainingRun.Kind.values:
            kind = TrainingRun.Kind.TRAIN
        run = self._start(request, kind, request.POST.get("pipeline") or "default")
        if run is not None:
            return HttpResponseRedirect(
                reverse("admin:training_trainingrun_change", args=[run.pk])
            )
        return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        runs.sync_pipeline_definitions()
        extra = {
            "pipelines": PipelineDefinition.objects.values_list("name", flat=True),
            "can_train": self.has_train_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def _start(self, request: HttpRequest, kind: str, pipeline: str) -> TrainingRun | None:
        try:
            run = runs.start_training_run(
                kind=kind, pipeline_name=pipeline, user=request.user
            )
        except (NothingToTrain, InvalidPipeline, DuplicateRun) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        self.message_user(
            request, f"{run} queued: a worker will run it; its page shows its progress live."
        )
        return run


RUN_METRICS = (
    "pr_auc", "plain_pr_auc", "roc_auc", "recall", "precision", "f1_score", "mcc", "threshold"
)


@dashboard.register
def dashboard_panel(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's last training runs."""
    return {
        "last_runs": [
            {
                "name": str(run),
                "url": reverse("admin:training_trainingrun_change", args=[run.pk]),
                "status": run.status,
                "status_label": run.get_status_display(),
                "detail": run.error[:80]
                if run.status == TrainingRun.Status.FAILED
                else f"{run.progress}%",
                "created_at": run.created_at,
            }
            for run in selectors.list_recent_runs()
        ],
    }

