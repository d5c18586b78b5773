"""Plant's admin: dataset upload with its validation report, vehicles by KNR, fail groups."""

from __future__ import annotations

import html
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from crossline import dashboard, numbers
from crossline.admin_site import ProgressAdminMixin
from crossline.domain import fail_group_label, parse_month
from crossline.exceptions import InvalidUpload
from plant import admin_fail_groups, exports, imports, selectors
from plant.admin_fail_groups import fail_group_labels_for
from plant.hooks import latest_prediction
from plant.models import Dataset, DatasetKind, FailGroup, Vehicle


class DatasetUploadForm(forms.Form):
    """The admin's add view: a plant export and its kind."""

    kind = forms.ChoiceField(choices=DatasetKind.choices)
    file = forms.FileField(
        help_text="CSV, gzip'd CSV, Excel (.xlsx) or Parquet export from the plant."
    )


@admin.register(Dataset)
class DatasetAdmin(ProgressAdminMixin, admin.ModelAdmin):
    change_form_template = "admin/plant/dataset/change_form.html"
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
        "predictions",
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
        "size",
        "sha256",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "rows_dropped",
        "values_unparseable",
        "knr_count",
        "predictions",
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

    @admin.display(description="Size")
    def size(self, dataset: Dataset) -> str:
        return numbers.file_size(dataset.size_bytes)

    def extra_urls(self) -> list:
        return [
            path(
                "<path:object_id>/download.csv",
                self.admin_site.admin_view(self.csv_view),
                name="plant_dataset_download_csv",
            )
        ]

    def csv_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """The same rows as the Parquet download, as CSV for a spreadsheet."""
        dataset = self.get_object(request, unquote(object_id))
        if dataset is None or self.download(dataset) is None:
            raise Http404("No such dataset, or it has nothing to download yet.")
        if not self.has_view_permission(request, dataset):
            raise PermissionDenied
        stem = self.download(dataset)[1].removesuffix(".parquet")
        response = StreamingHttpResponse(exports.dataset_csv(dataset), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return response

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
                csv_url=(
                    reverse("admin:plant_dataset_download_csv", args=[dataset.pk])
                    if self.download(dataset) else ""
                ),
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
                    reverse("admin:plant_dataset_change", args=[dataset.pk])
                )
        return self.form_page(
            request, "admin/plant/dataset/upload.html", "Upload a plant export",
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


class FailGroupFilter(admin_fail_groups.FailGroupFilter):
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
    change_form_template = "admin/plant/vehicle/change_form.html"
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
        "updated_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vehicles come from imports only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting a dataset recomputes (and removes) its vehicles

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The names are read once for the page and kept in this request's column.
        labels = fail_group_labels_for(request)

        @admin.display(description="Fail groups")
        def fail_groups_display(vehicle: Vehicle) -> str:
            return fail_group_list(vehicle.fail_groups, labels)

        return [
            "knr",
            "first_test_at",
            "test_count",
            "nok_count",
            "has_defects",
            fail_groups_display,
            "defect_count",
        ]

    def get_urls(self) -> list:
        by_knr = path(
            "knr/<str:knr>/",
            self.admin_site.admin_view(self.by_knr_view),
            name="plant_vehicle_by_knr",
        )
        return [by_knr, *super().get_urls()]

    def by_knr_view(self, request: HttpRequest, knr: str) -> HttpResponse:
        """A vehicle's page by its KNR (links from predictions, which know KNRs, not keys)."""
        vehicle = selectors.list_vehicles().filter(knr=knr).only("pk").first()
        if vehicle is None:
            self.message_user(request, f"No vehicle with KNR {knr}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:plant_vehicle_changelist"))
        return HttpResponseRedirect(reverse("admin:plant_vehicle_change", args=[vehicle.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        vehicle = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if vehicle is not None:
            extra.update(vehicle_context(vehicle, fail_group_labels_for(request)))
        return super().change_view(request, object_id, form_url, extra)


def fail_group_list(codes: list[int], labels: dict[int, str]) -> str:
    """Fail groups by the names people see ("2 Central part, 4 Doors"), "-" for none."""
    return ", ".join(fail_group_label(code, labels) for code in codes) or "-"


def vehicle_context(vehicle: Vehicle, labels: dict[int, str]) -> dict[str, Any]:
    """The vehicle page's tables: tests (NOK first-class), defects, datasets, prediction."""
    detail = selectors.get_vehicle_detail(vehicle.knr, vehicle=vehicle)
    datasets = {str(d.pk): d for d in selectors.list_datasets_by_ids(vehicle.dataset_ids or [])}
    return {
        "fail_groups": fail_group_list(vehicle.fail_groups, labels),
        "test_count": len(detail.tests),
        "test_rows": test_rows(detail.tests),
        "defects": [
            {**d, "fail_group_name": fail_group_label(d["fail_group"], labels)}
            for d in detail.defects
        ],
        "datasets": [
            {
                "name": str(datasets[str(pk)]) if str(pk) in datasets else f"dataset {pk}",
                "url": reverse("admin:plant_dataset_change", args=[pk])
                if str(pk) in datasets
                else "",
            }
            for pk in vehicle.dataset_ids or []
        ],
        # Filled by the predictions app (a hook: plant does not import it).
        "prediction": latest_prediction(vehicle.knr),
    }


def test_rows(tests: list[dict[str, Any]]) -> str:
    """The tests table's rows as HTML, NOK ones marked: a plant vehicle has some 800 tests, and
    the template language took over 100 ms to render them cell by cell."""
    rows = []
    for t in tests:
        status = t["status"]
        rows.append(
            f'<tr class="{"nok" if status == "NOK" else "ok"}"><td>{_cell(t["at"])}</td>'
            f"<td>{_cell(t['name'])}</td><td>{_cell(t['family'])}</td>"
            f"<td>{_cell(t['unit'])}</td><td>{_cell(t['value_id'])}</td>"
            f'<td class="number">{_cell(t["value"])}</td><td class="status">{_cell(status)}</td>'
            "</tr>"
        )
    # Safe: every value was escaped by _cell.
    return mark_safe("".join(rows))


def _cell(value: Any) -> str:
    """A cell's text, escaped (as the template would); missing as blank."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)  # digits, sign, point: nothing to escape
    return html.escape(str(value))


@admin.register(FailGroup)
class FailGroupAdmin(admin.ModelAdmin):
    """The team's names for the fail groups and their indicated tests (the inspections)."""

    list_display = ["code", "name", "inspection_list"]
    search_fields = ["name"]

    @admin.display(description="Indicated tests")
    def inspection_list(self, obj: FailGroup) -> str:
        return "; ".join(obj.inspections)


@dashboard.register
def dashboard_panel(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's vehicle counts and the last imports."""
    summary = selectors.get_vehicle_summary()
    month = summary["latest_month"]
    return {
        "vehicles_total": summary["total"],
        "vehicles_with_defects_share": summary["with_defects"] / summary["total"]
        if summary["total"]
        else None,
        "vehicles_month": summary["latest_month_count"],
        "vehicles_month_name": f"{month:%B %Y}" if month else "",
        # Each count links to the list it counts.
        "vehicles_url": reverse("admin:plant_vehicle_changelist"),
        "vehicles_month_url": f"{reverse('admin:plant_vehicle_changelist')}?month={month:%Y-%m}"
        if month else "",
        "last_imports": [
            {
                "name": dataset.original_name,
                "url": reverse("admin:plant_dataset_change", args=[dataset.pk]),
                "status": dataset.status,
                "status_label": dataset.get_status_display(),
                "detail": f"{dataset.knr_count:,} KNRs"
                if dataset.status == Dataset.Status.READY
                else f"{dataset.progress}%",
                "uploaded_at": dataset.uploaded_at,
            }
            for dataset in selectors.list_recent_datasets()
        ],
    }
