"""Training's admin: dataset upload with its validation report, and vehicles by KNR."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.urls import path, reverse

import crossline.admin_filters
from crossline import dashboard, numbers
from crossline.admin_site import ProgressAdminMixin
from crossline.domain import fail_group_label, fail_group_labels, kind_label, parse_month
from crossline.exceptions import DuplicateRun, InvalidPipeline, InvalidUpload, NothingToTrain
from training import imports, runs, selectors
from training.hooks import latest_prediction
from training.models import Dataset, DatasetKind, PipelineDefinition, TrainingRun, Vehicle
from training.pipeline.definition import parse_definition

# ---------------------------------------------------------------------------------------------
# Datasets and vehicles
# ---------------------------------------------------------------------------------------------


class DatasetUploadForm(forms.Form):
    """The admin's add view: a plant export and its kind."""

    kind = forms.ChoiceField(choices=DatasetKind.choices)
    file = forms.FileField(
        help_text="CSV, gzip'd CSV, Excel (.xlsx) or Parquet export from the plant."
    )


@admin.register(Dataset)
class DatasetAdmin(ProgressAdminMixin, admin.ModelAdmin):
    change_form_template = "admin/training/dataset/change_form.html"
    list_display = [
        "original_name",
        "kind",
        "status",
        "progress_cell",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "rows_dropped",
        "knr_count",
        "first_at",
        "last_at",
        "uploaded_by",
        "uploaded_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = [
        "kind",
        "original_name",
        "status",
        "error",
        "heartbeat_at",
        "size_bytes",
        "sha256",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "rows_dropped",
        "values_unparseable",
        "knr_count",
        "first_at",
        "last_at",
        "uploaded_by",
        "uploaded_at",
        "finished_at",
    ]
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a dataset is what the export held; it is deleted, never edited

    def progress_state(self, dataset: Dataset) -> dict[str, Any]:
        done = dataset.status != Dataset.Status.IMPORTING
        return {
            "status": dataset.status,
            "status_label": dataset.get_status_display(),
            "progress": 100 if dataset.status == Dataset.Status.READY else dataset.progress,
            "step_text": f"{dataset.rows_read:,} rows read",
            "done": done,
        }

    def download(self, dataset: Dataset) -> tuple[str, str, str] | None:
        """The dataset's accepted rows as the Parquet file crossline stored."""
        if dataset.status != Dataset.Status.READY or not dataset.file:
            return None
        stem = dataset.original_name.split(".")[0] or f"dataset-{dataset.pk}"
        return dataset.file, f"{stem}.parquet", "application/vnd.apache.parquet"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        dataset = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if dataset is not None:
            extra.update(
                report=report_context(dataset.report),
                progress=self.progress_state(dataset),
                progress_url=self.progress_url(dataset),
                download_url=self.download_url(dataset),
            )
        return super().change_view(request, object_id, form_url, extra)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            posted = request.method == "POST"
            form = DatasetUploadForm(
                request.POST if posted else None, request.FILES if posted else None
            )
        except InvalidUpload as exc:
            # Raised while the body is read: the request is over the upload limit.
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                dataset = imports.import_uploaded_file(
                    upload=upload, kind=form.cleaned_data["kind"], user=request.user
                )
            except InvalidUpload as exc:
                form.add_error("file", str(exc))
            else:
                self.log_addition(request, dataset, [{"added": {}}])
                if dataset.task_id:
                    message = (
                        f"Queued {dataset.original_name} for import: a worker imports it; "
                        "this page shows its status, progress and rows read."
                    )
                else:
                    message = (
                        f"Imported {dataset.original_name}: {dataset.rows_accepted:,} rows "
                        f"accepted, {dataset.rows_rejected:,} rejected, "
                        f"{dataset.knr_count:,} KNRs."
                    )
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:training_dataset_change", args=[dataset.pk])
                )
        return self.form_page(
            request, "admin/training/dataset/upload.html", "Upload a plant export",
            form, extra_context,
        )

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        imports.delete_dataset(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for dataset in queryset:
            imports.delete_dataset(dataset=dataset)


def report_context(report: dict[str, Any]) -> dict[str, Any] | None:
    """A validation report for its template: the counts, then each problem with examples."""
    if not report:
        return None
    return {
        "counts": {
            name: f"{report.get(name, 0):,}"
            for name in (
                "rows_read",
                "rows_accepted",
                "rows_rejected",
                "rows_dropped",
                "values_unparseable",
            )
        },
        "problems": [
            {
                "reason": reason,
                "field": problem["field"],
                "count": f"{problem['count']:,}",
                "action": problem["action"],
                "examples": "; ".join(
                    f"row {e['row']}: {e['value']!r}" for e in problem["examples"]
                ),
            }
            for reason, problem in (report.get("problems") or {}).items()
        ],
    }


class FailGroupFilter(crossline.admin_filters.FailGroupFilter):
    def filter_group(self, queryset: QuerySet[Vehicle], code: int) -> QuerySet[Vehicle]:
        return selectors.filter_vehicles_by_fail_group(queryset, code)


class MonthFilter(admin.SimpleListFilter):
    title = "month of first test"
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (month.strftime("%Y-%m"), month.strftime("%B %Y"))
            for month in reversed(selectors.list_vehicle_months())
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Vehicle]) -> QuerySet[Vehicle]:
        month = parse_month(self.value() or "")
        if month is None:
            return queryset
        return selectors.filter_vehicles_by_month(queryset, *month)


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    change_form_template = "admin/training/vehicle/change_form.html"
    list_display = [
        "knr",
        "first_test_at",
        "test_count",
        "nok_count",
        "has_defects",
        "fail_groups_display",
        "defect_count",
    ]
    list_filter = ["has_defects", FailGroupFilter, MonthFilter]
    search_fields = ["knr"]
    readonly_fields = [
        "knr",
        "first_test_at",
        "last_test_at",
        "test_count",
        "nok_count",
        "defect_count",
        "has_defects",
        "fail_groups_display",
        "updated_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vehicles come from imports only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting a dataset recomputes (and removes) its vehicles

    def get_changelist_instance(self, request: HttpRequest):
        # One read of the fail-group names per page, not one per row.
        self._names = fail_group_labels()
        return super().get_changelist_instance(request)

    def get_urls(self) -> list:
        by_knr = path(
            "knr/<str:knr>/",
            self.admin_site.admin_view(self.by_knr_view),
            name="training_vehicle_by_knr",
        )
        return [by_knr, *super().get_urls()]

    def by_knr_view(self, request: HttpRequest, knr: str) -> HttpResponse:
        """A vehicle's page by its KNR (links from predictions, which know KNRs, not keys)."""
        vehicle = selectors.list_vehicles().filter(knr=knr).only("pk").first()
        if vehicle is None:
            self.message_user(request, f"No vehicle with KNR {knr}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:training_vehicle_changelist"))
        return HttpResponseRedirect(reverse("admin:training_vehicle_change", args=[vehicle.pk]))

    @admin.display(description="Fail groups")
    def fail_groups_display(self, obj: Vehicle) -> str:
        names = getattr(self, "_names", None) or fail_group_labels()
        return ", ".join(fail_group_label(code, names) for code in obj.fail_groups) or "-"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        vehicle = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if vehicle is not None:
            self._names = fail_group_labels()
            extra.update(self.vehicle_context(vehicle, self._names))
        return super().change_view(request, object_id, form_url, extra)

    def vehicle_context(self, vehicle: Vehicle, names: dict[int, str]) -> dict[str, Any]:
        """The vehicle page's tables: tests (NOK first-class), defects, datasets, prediction."""
        detail = selectors.get_vehicle_detail(vehicle.knr, vehicle=vehicle)
        datasets = {
            str(d.pk): d for d in Dataset.objects.filter(pk__in=list(vehicle.dataset_ids or []))
        }
        return {
            "tests": [
                {**t, "value_id": _blank(t["value_id"]), "value": _blank(t["value"])}
                for t in detail.tests
            ],
            "defects": [
                {**d, "fail_group_name": fail_group_label(d["fail_group"], names)}
                for d in detail.defects
            ],
            "datasets": [
                {
                    "name": str(datasets[str(pk)]) if str(pk) in datasets else f"dataset {pk}",
                    "url": reverse("admin:training_dataset_change", args=[pk])
                    if str(pk) in datasets
                    else "",
                }
                for pk in vehicle.dataset_ids or []
            ],
            # Filled by the predictions app (a hook: training does not import it).
            "prediction": latest_prediction(vehicle.knr),
        }


def _blank(value: Any) -> Any:
    return "" if value is None else value


# ---------------------------------------------------------------------------------------------
# Training runs and pipeline definitions
# ---------------------------------------------------------------------------------------------


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
        "status",
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
        }

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        run = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if run is not None:
            extra.update(self.run_context(run))
        return super().change_view(request, object_id, form_url, extra)

    def run_context(self, run: TrainingRun) -> dict[str, Any]:
        """The run page: live progress, metrics per kind by name, comparison, datasets."""
        names = fail_group_labels()
        datasets = {str(d.pk): d for d in Dataset.objects.filter(pk__in=list(run.dataset_ids))}
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
            "datasets": [
                {
                    "name": str(datasets[str(pk)]) if str(pk) in datasets else f"dataset {pk}",
                    "url": reverse("admin:training_dataset_change", args=[pk])
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


RUN_METRICS = ("pr_auc", "roc_auc", "recall", "precision", "f1_score", "mcc", "threshold")


@dashboard.register
def dashboard_panel(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's vehicle counts and the last imports and training runs."""
    summary = selectors.get_vehicle_summary()
    month = summary["latest_month"]
    return {
        "vehicles_total": summary["total"],
        "vehicles_with_defects_share": summary["with_defects"] / summary["total"]
        if summary["total"]
        else None,
        "vehicles_month": summary["latest_month_count"],
        "vehicles_month_name": f"{month:%B %Y}" if month else "",
        "last_imports": [
            {
                "name": dataset.original_name,
                "url": reverse("admin:training_dataset_change", args=[dataset.pk]),
                "status": dataset.status,
                "status_label": dataset.get_status_display(),
                "detail": f"{dataset.knr_count:,} KNRs"
                if dataset.status == Dataset.Status.READY
                else f"{dataset.progress}%",
                "uploaded_at": dataset.uploaded_at,
            }
            for dataset in selectors.list_recent_datasets()
        ],
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
