"""The admin's Worklist page: a production day's (or a range's) vehicles to inspect, riskiest
first, each with its fail groups, its indicated tests and why; exported as CSV or Excel."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from crossline import numbers
from crossline.domain import fail_group_label
from crossline.exceptions import InvalidInput
from plant.admin_fail_groups import fail_group_labels_for
from predictions.exports import worklist_csv, worklist_filename, worklist_xlsx
from predictions.models import Worklist
from predictions.selectors import WorklistView, get_latest_production_day, get_worklist

EXPORTS = {
    "csv": ("text/csv", worklist_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", worklist_xlsx),
}


class WorklistDaysForm(forms.Form):
    """A production day, or the first and last of a range."""

    date = forms.DateField(
        label="Production day", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day of the vehicles' last test.",
    )
    to = forms.DateField(
        label="to", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the last day of a range.",
    )


@admin.register(Worklist)
class WorklistAdmin(admin.ModelAdmin):
    """The worklist, in the admin's list of pages; it shows predictions, never edits them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        latest = get_latest_production_day()
        form = WorklistDaysForm(request.GET or ({"date": latest} if latest else None))
        worklist = None
        if form.is_bound and form.is_valid():
            try:
                worklist = get_worklist(form.cleaned_data["date"], form.cleaned_data.get("to"))
            except InvalidInput as error:
                form.add_error(error.field or None, str(error))
        labels = fail_group_labels_for(request)
        export = request.GET.get("export")
        if worklist is not None and export in EXPORTS:
            content_type, write = EXPORTS[export]
            response = HttpResponse(write(worklist, labels), content_type=content_type)
            filename = worklist_filename(worklist, export)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": "Worklist",
            "opts": self.opts,
            "form": form,
            "worklist": worklist,
            "rows": worklist_rows_for_page(worklist, labels) if worklist else [],
            "days": [
                {"day": d.day, "vehicles": d.vehicles, "allowed": d.allowed, "listed": d.listed,
                 "share": numbers.percent(d.listed / d.vehicles) if d.vehicles else "–"}
                for d in worklist.days
            ] if worklist else [],
            "capacity": worklist.capacity.describe() if worklist else "",
            "capacity_url": reverse("admin:predictions_inspectioncapacity_changelist"),
            "query": request.GET.urlencode(),
            **(extra_context or {}),
        }
        return TemplateResponse(
            request, "admin/predictions/worklist/change_list.html", context
        )


def worklist_rows_for_page(worklist: WorklistView, labels: dict[int, str]) -> list[dict]:
    """Each listed vehicle as the page shows it."""
    return [
        {
            "rank": rank,
            "knr": p.knr,
            "url": reverse("admin:predictions_prediction_change", args=[p.pk]),
            "vehicle_url": reverse("admin:plant_vehicle_by_knr", args=[p.knr]),
            "day": timezone.localtime(p.produced_at).date() if p.produced_at else None,
            "risk": numbers.percent(p.risk),
            "groups": [
                f"{fail_group_label(code, labels)} "
                f"({numbers.percent((p.probabilities or {}).get(str(code)))})"
                for code in p.predicted_fail_codes or []
            ],
            "tests": p.indicated_tests or [],
            "reasons": [reason.get("text", "") for reason in p.explanation or []],
        }
        for rank, p in enumerate(worklist.vehicles, start=1)
    ]
