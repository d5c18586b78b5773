"""Admin for predictions: filters as in the API, history, predict again; indicated tests."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

import crossline.admin_filters
from crossline.exceptions import CrosslineError
from predictions import selectors, services
from predictions.models import BatchPrediction, IndicatedTest, Prediction, PredictionHistory


class FailGroupFilter(crossline.admin_filters.FailGroupFilter):
    title = "predicted fail group"
    parameter_name = "fail_code"

    def filter_group(self, queryset: QuerySet, code: int) -> QuerySet:
        return selectors.filter_by_fail_code(queryset, code)


class FeedbackFilter(admin.SimpleListFilter):
    title = "feedback"
    parameter_name = "has_feedback"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Real fail codes known"), ("no", "Waiting for defects")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(real_fail_codes__isnull=self.value() == "no")
        return queryset


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = [
        "knr", "p_fail_display", "predicted_fail", "flagged_by", "predicted_fail_codes",
        "no_model_groups", "real_fail_codes", "produced_at", "created_at",
    ]
    list_filter = [FailGroupFilter, "predicted_fail", FeedbackFilter, "created_at"]
    search_fields = ["knr"]
    ordering = ["-created_at"]
    actions = ["predict_again"]
    readonly_fields = [
        "knr", "p_fail", "predicted_fail", "flagged_by", "probabilities", "predicted_fail_codes",
        "no_model_groups", "model_versions", "produced_at", "created_at", "feedback_at",
        "history",
    ]
    fields = [
        "knr", "p_fail", "predicted_fail", "flagged_by", "probabilities", "predicted_fail_codes",
        "no_model_groups", "indicated_tests", "model_versions", "produced_at", "created_at",
        "real_fail_codes", "feedback_at", "history",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Predictions come from the models (the API, the command, this page's action).
        return False

    @admin.display(description="p(fail)", ordering="p_fail")
    def p_fail_display(self, obj: Prediction) -> str:
        return "no model" if obj.p_fail is None else f"{obj.p_fail:.3f}"

    @admin.display(description="Earlier predictions")
    def history(self, obj: Prediction) -> str:
        rows = selectors.list_prediction_history(obj.knr)[:20]
        if not rows:
            return "–"
        return format_html(
            "<table><tr><th>made</th><th>p(fail)</th><th>groups</th><th>models</th></tr>{}"
            "</table>",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        f"{h.created_at:%Y-%m-%d %H:%M}",
                        "no model" if h.p_fail is None else f"{h.p_fail:.3f}",
                        ", ".join(map(str, h.predicted_fail_codes)) or "–",
                        ", ".join(h.model_versions.values()),
                    )
                    for h in rows
                ),
            ),
        )

    @admin.action(description="Predict again with the active models",
                  permissions=["change"])
    def predict_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        knrs = list(queryset.values_list("knr", flat=True))
        try:
            predictions = services.predict_knrs(knrs=knrs)
        except CrosslineError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Predicted {len(predictions)} KNRs again.", messages.SUCCESS)


@admin.register(PredictionHistory)
class PredictionHistoryAdmin(admin.ModelAdmin):
    list_display = ["knr", "p_fail", "predicted_fail_codes", "created_at", "replaced_at"]
    search_fields = ["knr"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IndicatedTest)
class IndicatedTestAdmin(admin.ModelAdmin):
    list_display = ["fail_group", "zone", "inspection_list"]
    search_fields = ["zone"]

    @admin.display(description="Inspections")
    def inspection_list(self, obj: IndicatedTest) -> str:
        return "; ".join(obj.inspections)


@admin.register(BatchPrediction)
class BatchPredictionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__", "status", "original_name", "since", "knr_count", "predicted_count",
        "progress", "created_at", "finished_at",
    ]
    list_filter = ["status"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
