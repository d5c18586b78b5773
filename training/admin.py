"""Training's admin: dataset upload with its validation report, and vehicles by KNR."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

import crossline.admin_filters
from crossline.domain import fail_group_label, fail_group_labels, parse_month
from crossline.exceptions import DuplicateRun, InvalidPipeline, InvalidUpload, NothingToTrain
from training import imports, runs, selectors
from training.hooks import latest_prediction_summary
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
class DatasetAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "kind",
        "status",
        "progress",
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
        "progress",
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
        "file",
        "uploaded_by",
        "uploaded_at",
        "finished_at",
        "validation_report",
    ]
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a dataset is what the export held; it is deleted, never edited

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            form = DatasetUploadForm(request.POST or None, request.FILES or None)
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
                self.message_user(
                    request,
                    f"Imported {dataset.original_name}: {dataset.rows_accepted:,} rows accepted, "
                    f"{dataset.rows_rejected:,} rejected, {dataset.knr_count:,} KNRs.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:training_dataset_change", args=[dataset.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a plant export",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/training/dataset/upload.html", context)

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        imports.delete_dataset(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for dataset in queryset:
            imports.delete_dataset(dataset=dataset)

    @admin.display(description="Validation report")
    def validation_report(self, obj: Dataset) -> SafeString:
        return render_report(obj.report)


def render_report(report: dict[str, Any]) -> SafeString:
    """A validation report as HTML: the counts, then each problem with its first examples."""
    if not report:
        return format_html("<p>{}</p>", "No report yet.")
    counts = format_html(
        "<p>{} rows read, {} accepted, {} rejected, {} dropped; {} values unparseable.</p>",
        f"{report.get('rows_read', 0):,}",
        f"{report.get('rows_accepted', 0):,}",
        f"{report.get('rows_rejected', 0):,}",
        f"{report.get('rows_dropped', 0):,}",
        f"{report.get('values_unparseable', 0):,}",
    )
    problems = report.get("problems") or {}
    if not problems:
        return counts + format_html("<p>{}</p>", "No problems found.")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                reason,
                problem["field"],
                f"{problem['count']:,}",
                problem["action"],
                "; ".join(f"row {e['row']}: {e['value']!r}" for e in problem["examples"]),
            )
            for reason, problem in problems.items()
        ),
    )
    return counts + format_html(
        "<table><thead><tr><th>Problem</th><th>Column</th><th>Rows</th><th>Action</th>"
        "<th>Examples</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


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
        "dataset_ids",
        "updated_at",
        "latest_prediction",
        "tests_table",
        "defects_table",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vehicles come from imports only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting a dataset recomputes (and removes) its vehicles

    @admin.display(description="Fail groups")
    def fail_groups_display(self, obj: Vehicle) -> str:
        labels = fail_group_labels()
        return ", ".join(fail_group_label(code, labels) for code in obj.fail_groups) or "-"

    @admin.display(description="Latest prediction")
    def latest_prediction(self, obj: Vehicle) -> SafeString:
        summary = latest_prediction_summary(obj.knr)
        return summary if summary is not None else format_html("{}", "Not predicted yet.")

    def _detail(self, obj: Vehicle) -> selectors.VehicleDetail:
        # Both tables read the same records: fetch them once per page.
        cached = getattr(obj, "_detail", None)
        if cached is None:
            cached = selectors.get_vehicle_detail(obj.knr, vehicle=obj)
            obj._detail = cached
        return cached

    @admin.display(description="Tests")
    def tests_table(self, obj: Vehicle) -> SafeString:
        tests = self._detail(obj).tests
        if not tests:
            return format_html("<p>{}</p>", "No tests recorded.")
        rows = format_html_join(
            "",
            '<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    "nok" if t["status"] == "NOK" else "ok",
                    t["at"],
                    t["name"],
                    t["family"],
                    t["unit"] or "",
                    _blank(t["value_id"]),
                    _blank(t["value"]),
                    t["status"],
                )
                for t in tests
            ),
        )
        return format_html(
            "<table><thead><tr><th>Time</th><th>Test</th><th>Family</th><th>Unit</th>"
            "<th>Sub-result</th><th>Value</th><th>Result</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Defects")
    def defects_table(self, obj: Vehicle) -> SafeString:
        defects = self._detail(obj).defects
        if not defects:
            return format_html("<p>{}</p>", "No defects recorded.")
        labels = fail_group_labels()
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    d["at"],
                    fail_group_label(d["fail_group"], labels),
                    d["defect"] or "",
                    d["station"] or "",
                    d["inspector"] or "",
                )
                for d in defects
            ),
        )
        return format_html(
            "<table><thead><tr><th>Time</th><th>Fail group</th><th>Defect</th><th>Station</th>"
            "<th>Inspector</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


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
class TrainingRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/training/trainingrun/change_list.html"
    list_display = [
        "__str__",
        "kind",
        "status",
        "progress_bar",
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
        "progress",
        "current_step",
        "pipeline_name",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "dataset_ids",
        "failed_step",
        "error",
        "metrics_table",
        "skipped",
        "comparison_table",
        "log_text",
        "pipeline",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_train_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    @admin.display(description="progress")
    def progress_bar(self, run: TrainingRun) -> SafeString:
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', run.progress, run.progress
        )

    @admin.display(description="duration")
    def duration(self, run: TrainingRun) -> str:
        seconds = run.duration_seconds
        return "" if seconds is None else f"{seconds:.0f} s"

    @admin.display(description="log")
    def log_text(self, run: TrainingRun) -> SafeString:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", run.log)

    @admin.display(description="metrics (test set)")
    def metrics_table(self, run: TrainingRun) -> SafeString:
        return metrics_html({kind: m for kind, m in run.metrics.items()})

    @admin.display(description="comparison with the active models")
    def comparison_table(self, run: TrainingRun) -> SafeString:
        kinds = run.comparison.get("kinds", {})
        if not kinds:
            return format_html("{}", "—")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    kind,
                    entry["new_model"],
                    _metric(entry["new_model_metrics"], "pr_auc"),
                    entry["last_model"] or "—",
                    _metric(entry["last_model_metrics"], "pr_auc"),
                    entry["message"],
                )
                for kind, entry in kinds.items()
            ),
        )
        return format_html(
            "<table><tr><th>kind</th><th>challenger</th><th>PR-AUC</th><th>active</th>"
            "<th>PR-AUC</th><th>verdict</th></tr>{}</table>",
            rows,
        )

    @admin.action(
        description="Retrain (all stored data, the selected run's pipeline)", permissions=["train"]
    )
    def retrain(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        pipelines = {run.pipeline_name for run in queryset}
        if len(pipelines) != 1:
            self.message_user(request, "Select runs of one pipeline to retrain.", messages.ERROR)
            return
        self._start(request, TrainingRun.Kind.RETRAIN, pipelines.pop())

    def get_urls(self):
        custom = [
            path("train/", self.admin_site.admin_view(self.train_view), name="training_train"),
        ]
        return custom + super().get_urls()

    def train_view(self, request: HttpRequest) -> HttpResponse:
        """The changelist's "Train" and "Retrain" buttons (POST)."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))
        if not self.has_train_permission(request):
            raise PermissionDenied
        kind = request.POST.get("kind", TrainingRun.Kind.TRAIN)
        if kind not in TrainingRun.Kind.values:
            kind = TrainingRun.Kind.TRAIN
        self._start(request, kind, request.POST.get("pipeline") or "default")
        return HttpResponseRedirect(reverse("admin:training_trainingrun_changelist"))

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        runs.sync_pipeline_definitions()
        extra = {
            "pipelines": PipelineDefinition.objects.values_list("name", flat=True),
            "can_train": self.has_train_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def _start(self, request: HttpRequest, kind: str, pipeline: str) -> None:
        try:
            run = runs.start_training_run(
                kind=kind, pipeline_name=pipeline, user=request.user
            )
        except (NothingToTrain, InvalidPipeline, DuplicateRun) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request, f"{run} queued: a worker will run it; this page shows its progress."
        )


def _metric(metrics: dict | None, name: str) -> str:
    value = (metrics or {}).get(name)
    return "—" if value is None else f"{value:.3f}"


def metrics_html(metrics_by_kind: dict[str, dict]) -> SafeString:
    """A table of test-set metrics, one row per model kind."""
    if not metrics_by_kind:
        return format_html("{}", "—")
    names = ["pr_auc", "roc_auc", "recall", "precision", "f1_score", "mcc", "accuracy", "threshold"]
    header = format_html_join("", "<th>{}</th>", ((name,) for name in names))
    rows = format_html_join(
        "",
        "<tr><td>{}</td>{}</tr>",
        (
            (kind, format_html_join("", "<td>{}</td>", ((_metric(m, n),) for n in names)))
            for kind, m in metrics_by_kind.items()
        ),
    )
    return format_html("<table><tr><th>kind</th>{}</tr>{}</table>", header, rows)
