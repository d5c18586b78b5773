"""Training's admin: dataset upload with its validation report, and vehicles by KNR."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from crossline.exceptions import InvalidUpload
from training import selectors, services
from training.models import Dataset, DatasetKind, Vehicle

FAIL_GROUP_LABELS = {
    2: "Central part", 4: "Doors", 5: "Front", 1: "Rear", 9830946: "Electrical",
    133: "General", 140: "Documentation", 137: "External floor",
}

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
        "original_name", "kind", "status", "progress", "rows_read", "rows_accepted",
        "rows_rejected", "rows_dropped", "knr_count", "first_at", "last_at", "uploaded_by",
        "uploaded_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = [
        "kind", "original_name", "status", "progress", "size_bytes", "sha256", "rows_read",
        "rows_accepted", "rows_rejected", "rows_dropped", "values_unparseable", "knr_count",
        "first_at", "last_at", "file", "uploaded_by", "uploaded_at", "finished_at",
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
        form = DatasetUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                dataset = services.import_uploaded_file(
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
        services.delete_dataset(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for dataset in queryset:
            services.delete_dataset(dataset=dataset)

    @admin.display(description="Validation report")
    def validation_report(self, obj: Dataset) -> SafeString:
        return render_report(obj.report)


def render_report(report: dict[str, Any]) -> SafeString:
    """A validation report as HTML: the counts, then each problem with its first examples."""
    if not report:
        return format_html("<p>{}</p>", "No report yet.")
    counts = format_html(
        "<p>{} rows read, {} accepted, {} rejected, {} dropped; {} values unparseable.</p>",
        f"{report.get('rows_read', 0):,}", f"{report.get('rows_accepted', 0):,}",
        f"{report.get('rows_rejected', 0):,}", f"{report.get('rows_dropped', 0):,}",
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
                reason, problem["field"], f"{problem['count']:,}", problem["action"],
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


class FailGroupFilter(admin.SimpleListFilter):
    title = "fail group"
    parameter_name = "fail_group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(code), f"{code} {label}") for code, label in FAIL_GROUP_LABELS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Vehicle]) -> QuerySet[Vehicle]:
        value = self.value()
        if not value or not value.lstrip("-").isdigit():
            return queryset
        return selectors.filter_vehicles_by_fail_group(queryset, int(value))


class MonthFilter(admin.SimpleListFilter):
    title = "month of first test"
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (month.strftime("%Y-%m"), month.strftime("%B %Y"))
            for month in reversed(selectors.list_vehicle_months())
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Vehicle]) -> QuerySet[Vehicle]:
        match = re.fullmatch(r"(\d{4})-(\d{2})", self.value() or "")
        if match is None or not 1 <= int(match[2]) <= 12:
            return queryset
        return selectors.filter_vehicles_by_month(queryset, int(match[1]), int(match[2]))


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = [
        "knr", "first_test_at", "test_count", "nok_count", "has_defects", "fail_groups_display",
        "defect_count",
    ]
    list_filter = ["has_defects", FailGroupFilter, MonthFilter]
    search_fields = ["knr"]
    readonly_fields = [
        "knr", "first_test_at", "last_test_at", "test_count", "nok_count", "defect_count",
        "has_defects", "fail_groups_display", "dataset_ids", "updated_at", "tests_table",
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
        return ", ".join(
            f"{code} {FAIL_GROUP_LABELS.get(code, '')}".strip() for code in obj.fail_groups
        ) or "-"

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
                    "nok" if t["status"] == "NOK" else "ok", t["at"], t["name"], t["family"],
                    t["unit"] or "", _blank(t["value_id"]), _blank(t["value"]), t["status"],
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
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    d["at"],
                    f"{d['fail_group']} {FAIL_GROUP_LABELS.get(d['fail_group'], '')}".strip(),
                    d["defect"] or "", d["station"] or "", d["inspector"] or "",
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
