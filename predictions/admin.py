"""Admin for predictions: records with feedback, history, batches."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from crossline import charts, dashboard, numbers
from crossline.admin_site import ProgressAdminMixin
from crossline.domain import fail_group_label, kind_label, parse_month
from crossline.exceptions import CrosslineError
from plant import admin_fail_groups
from plant.admin_fail_groups import fail_group_labels_for
from plant.selectors import get_fail_group_labels, get_vehicle_summary, list_knrs_first_tested_in
from predictions import batches, feedback, selectors, services
from predictions.admin_capacity import InspectionCapacityAdmin  # noqa: F401 (registered on import)
from predictions.admin_worklist import WorklistAdmin  # noqa: F401 (registered on import)
from predictions.capacity import get_capacity, get_label_window_days, get_window_closed_before
from predictions.models import BatchPrediction, Prediction, PredictionHistory
from predictions.worklist import CAPACITY_FLAG


class FailGroupFilter(admin_fail_groups.FailGroupFilter):
    title = "predicted fail group"
    parameter_name = "fail_code"

    def filter_group(self, queryset: QuerySet, code: int) -> QuerySet:
        return selectors.filter_by_fail_code(queryset, code)


class MonthFilter(admin.SimpleListFilter):
    """Predictions of the vehicles first tested in a month (?month=YYYY-MM), as the vehicles'
    list counts them: the dashboard's month card links here."""

    title = "vehicles first tested in"
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        month = parse_month(self.value() or "")
        return [(self.value(), f"{month[0]}-{month[1]:02d}")] if month else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        month = parse_month(self.value() or "")
        if month is None:
            return queryset
        return queryset.filter(knr__in=list_knrs_first_tested_in(*month))


class FeedbackFilter(admin.SimpleListFilter):
    title = "defects"
    parameter_name = "feedback"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (feedback.DEFECT, "Defect recorded"),
            (feedback.NO_DEFECT, "No defect, window closed"),
            (feedback.WAITING, "Waiting (window open)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in feedback.STATES:
            return selectors.filter_by_feedback(
                queryset, self.value(), closed_before=get_window_closed_before()
            )
        return queryset


class FeedbackForm(forms.ModelForm):
    """The one thing a person changes on a prediction: what the vehicle really had."""

    WAITING, KNOWN = "waiting", "known"
    feedback = forms.ChoiceField(
        choices=[
            (WAITING, "As recorded: the imported defects, or none once the labelling window "
             "closed"),
            (KNOWN, "Set by hand: the fail groups ticked below (none ticked: no defect)"),
        ],
        widget=forms.RadioSelect,
    )
    real_groups = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Real fail groups"
    )

    # The names to offer: the admin gives each request's form class those it read once.
    fail_group_labels: dict[int, str] | None = None

    class Meta:
        model = Prediction
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = self.fail_group_labels
        if names is None:
            names = get_fail_group_labels()
        self.fields["real_groups"].choices = sorted(
            ((code, fail_group_label(code, names)) for code in names), key=lambda c: c[1]
        )
        real = self.instance.real_fail_codes
        self.fields["feedback"].initial = self.WAITING if real is None else self.KNOWN
        self.fields["real_groups"].initial = [int(code) for code in real or []]

    def real_fail_codes(self) -> list[int] | None:
        """The codes to store: None while waiting, else the ticked groups."""
        if self.cleaned_data["feedback"] == self.WAITING:
            return None
        return sorted(self.cleaned_data["real_groups"])


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    form = FeedbackForm
    change_form_template = "admin/predictions/prediction/change_form.html"
    list_filter = [FailGroupFilter, "predicted_fail", FeedbackFilter, MonthFilter, "created_at"]
    search_fields = ["knr"]
    ordering = ["-created_at"]
    actions = ["predict_again"]
    readonly_fields = [
        "knr_link", "p_fail_display", "predicted_fail", "produced_at", "created_at", "feedback_at",
    ]
    fieldsets = [
        (None, {"fields": readonly_fields}),
        ("Feedback", {"fields": ["feedback", "real_groups"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Predictions come from the models (the API, the command, batches, this page's action).
        return False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The names are read once for the page and kept in this request's columns.
        labels = fail_group_labels_for(request)
        window_days = get_label_window_days()

        @admin.display(description="flagged by")
        def flagged_by_display(obj: Prediction) -> str:
            return kinds_text(obj.flagged_by, labels)

        @admin.display(description="defects")
        def real_groups(obj: Prediction) -> str:
            return feedback_text(feedback.feedback_of(obj, window_days=window_days), labels)

        return [
            "knr_link", "p_fail_display", "predicted_fail", flagged_by_display, real_groups,
            "produced_at", "created_at",
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # A class of this request's own (the admin is shared): the names read for this page.
        return type(form.__name__, (form,), {"fail_group_labels": fail_group_labels_for(request)})

    @admin.display(description="KNR", ordering="knr")
    def knr_link(self, obj: Prediction) -> str:
        url = reverse("admin:plant_vehicle_by_knr", args=[obj.knr])
        return format_html('<a href="{}">{}</a>', url, obj.knr)

    @admin.display(description="probability of a defect", ordering="p_fail")
    def p_fail_display(self, obj: Prediction) -> str:
        return numbers.percent(obj.p_fail)

    def save_model(self, request: HttpRequest, obj: Prediction, form: FeedbackForm, change: bool):
        services.update_prediction(
            prediction=obj, data={"real_fail_codes": form.real_fail_codes()}
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        prediction = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if prediction is not None:
            extra.update(prediction_context(prediction, fail_group_labels_for(request)))
        return super().change_view(request, object_id, form_url, extra)

    @admin.action(description="Predict again with the active models",
                  permissions=["change"])
    def predict_again(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """A batch of the chosen vehicles on a worker: its page follows the progress (the list
        is not held while they are predicted)."""
        knrs = list(queryset.values_list("knr", flat=True))
        try:
            batch, _ = batches.start_batch_prediction(knrs=knrs, user=request.user)
        except CrosslineError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        self.message_user(
            request, f"Predicting {len(knrs):,} vehicles again on a worker ({batch}).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:predictions_batchprediction_change", args=[batch.pk])
        )


def groups_text(codes: list[int] | None, labels: dict[int, str], *, none: str = "–") -> str:
    """Fail groups by the names people see ("2 Central part, 4 Doors"), `none` for none."""
    return ", ".join(fail_group_label(code, labels) for code in codes or []) or none


def kinds_text(kinds: list[str] | None, labels: dict[int, str]) -> str:
    """What flagged a vehicle, by the names people see ("Any defect, 4 Doors", or its risk
    within the inspection capacity), "–" for none."""
    return ", ".join(
        "its risk, within the inspection capacity" if kind == CAPACITY_FLAG
        else kind_label(kind, labels)
        for kind in kinds or []
    ) or "–"


def feedback_text(known: feedback.Feedback, labels: dict[int, str]) -> str:
    """What is known of a vehicle's defects, in words."""
    if known.state == feedback.DEFECT:
        return groups_text(known.codes, labels)
    closes = (
        f"{timezone.localtime(known.closes_at):%Y-%m-%d}" if known.closes_at else None
    )
    if known.state == feedback.NO_DEFECT:
        return f"no defect recorded, window closed on {closes}" if closes else "no defect"
    return f"waiting until {closes}" if closes else "waiting (no production time)"


def prediction_context(prediction: Prediction, names: dict[int, str]) -> dict[str, Any]:
    """A prediction's page: probabilities per fail group by name, what flagged it, the groups
    without a model, what is known of its defects, models, tests, history."""
    predicted = {int(code) for code in prediction.predicted_fail_codes}
    known = feedback.feedback_of(prediction, window_days=get_label_window_days())
    real = set(known.codes) if known.known else None
    groups = sorted(
        (
            {
                "name": fail_group_label(code, names),
                "p": value,
                "p_text": numbers.percent(value),
                "width": round(min(max(value or 0, 0), 1) * 100),
                "flagged": int(code) in predicted,
                "real": None if real is None else int(code) in real,
            }
            for code, value in (prediction.probabilities or {}).items()
        ),
        key=lambda group: -(group["p"] or 0),
    )
    return {
        "groups": groups,
        "risk": numbers.percent(prediction.risk),
        "reasons": [reason.get("text", "") for reason in prediction.explanation or []],
        "feedback": feedback_text(known, names),
        "feedback_state": known.state,
        "flagged_by": kinds_text(prediction.flagged_by, names),
        "no_model": groups_text(prediction.no_model_groups, names),
        "indicated_tests": prediction.indicated_tests,
        "models": [
            {"label": kind_label(kind, names), "name": name}
            for kind, name in sorted((prediction.model_versions or {}).items())
        ],
        "history": [
            {
                "created_at": h.created_at,
                "p_fail": numbers.percent(h.p_fail),
                "groups": groups_text(h.predicted_fail_codes, names),
                "models": ", ".join((h.model_versions or {}).values()),
            }
            for h in selectors.list_prediction_history(prediction.knr)[:20]
        ],
    }


@admin.register(PredictionHistory)
class PredictionHistoryAdmin(admin.ModelAdmin):
    search_fields = ["knr"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The names are read once for the page and kept in this request's column.
        labels = fail_group_labels_for(request)

        @admin.display(description="predicted fail groups")
        def predicted_groups(obj: PredictionHistory) -> str:
            return groups_text(obj.predicted_fail_codes, labels)

        return ["knr", "p_fail_display", predicted_groups, "created_at", "replaced_at"]

    @admin.display(description="probability of a defect", ordering="p_fail")
    def p_fail_display(self, obj: PredictionHistory) -> str:
        return numbers.percent(obj.p_fail)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BatchForm(forms.Form):
    """Predict many vehicles: a test-results export, or every vehicle first tested since a date."""

    file = forms.FileField(
        required=False,
        help_text="A test-results export (CSV, gzip'd CSV, Excel or Parquet).",
    )
    since = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Or: every stored vehicle first tested at or after this time.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("file")) == bool(data.get("since")):
            raise forms.ValidationError("Give either a test-results file or a date, not both.")
        return data


@admin.register(BatchPrediction)
class BatchPredictionAdmin(ProgressAdminMixin, admin.ModelAdmin):
    change_form_template = "admin/predictions/batchprediction/change_form.html"
    list_display = [
        "__str__", "status", "original_name", "since", "knr_count", "predicted_count",
        "progress_cell", "created_at", "finished_at",
    ]
    list_filter = ["status"]
    fields = [
        "status", "original_name", "since", "knr_count", "predicted_count", "attempts",
        "error", "requested_by", "created_at", "finished_at",
    ]
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def progress_state(self, batch: BatchPrediction) -> dict[str, Any]:
        done = batch.status in (BatchPrediction.Status.SUCCEEDED, BatchPrediction.Status.FAILED)
        return {
            "status": batch.status,
            "status_label": batch.get_status_display(),
            "progress": batch.progress,
            "step_text": f"{batch.predicted_count:,} of {batch.knr_count:,} KNRs predicted"
            if batch.knr_count
            else "reading the KNRs",
            "done": done,
        }

    def download(self, batch: BatchPrediction) -> tuple[str, str, str] | None:
        """The batch's predictions as CSV."""
        if not batch.result_file:
            return None
        return batch.result_file, f"predictions-batch-{batch.pk}.csv", "text/csv"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        batch = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if batch is not None:
            extra.update(
                progress=self.progress_state(batch),
                progress_url=self.progress_url(batch),
                download_url=self.download_url(batch),
            )
        return super().change_view(request, object_id, form_url, extra)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = BatchForm(request.POST if posted else None, request.FILES if posted else None)
        if request.method == "POST" and form.is_valid():
            try:
                batch, _ = batches.start_batch_prediction(
                    upload=form.cleaned_data.get("file") or None,
                    since=form.cleaned_data.get("since") or None,
                    user=request.user,
                )
            except CrosslineError as exc:
                form.add_error(None, str(exc))
            else:
                self.log_addition(request, batch, [{"added": {}}])
                self.message_user(request, f"{batch} started.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:predictions_batchprediction_change", args=[batch.pk])
                )
        return self.form_page(
            request, "admin/predictions/batchprediction/add.html", "Predict a batch of vehicles",
            form, extra_context,
        )


@dashboard.register
def dashboard_panel(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's prediction counts, flagged vehicles per group, predicted vs real."""
    summary = selectors.get_prediction_summary()
    names = fail_group_labels_for(request)
    capacity = get_capacity()
    changelist = reverse("admin:predictions_prediction_changelist")
    # The same month as the vehicles' card beside it: the latest with vehicles.
    month = get_vehicle_summary()["latest_month"]
    month_knrs = list_knrs_first_tested_in(month.year, month.month) if month else []
    by_group = selectors.count_predicted_fail_codes()
    monthly = selectors.count_predicted_and_real_by_production_month()
    return {
        "predictions_total": summary["total"],
        "predictions_month": selectors.count_predictions_of(month_knrs),
        "flagged_share": summary["flagged"] / summary["total"] if summary["total"] else None,
        # Which rule flags, and each count linked to the list it counts.
        "flag_rule": capacity.describe().capitalize() + " (the worklist)"
        if capacity.is_set
        else "No inspection capacity set: each model's threshold policy flags",
        "flag_rule_url": reverse("admin:predictions_inspectioncapacity_changelist"),
        "worklist_url": reverse("admin:predictions_worklist_changelist"),
        "flagged_url": f"{changelist}?predicted_fail__exact=1",
        "predictions_url": changelist,
        "predictions_month_url": f"{changelist}?month={month:%Y-%m}" if month else changelist,
        "flagged_chart": charts.bar_chart(
            [fail_group_label(row["fail_code"], names) for row in by_group],
            {"vehicles flagged": [row["count"] for row in by_group]},
            horizontal=True,
        )
        if by_group
        else None,
        "monthly_chart": charts.bar_chart(
            [row["month"] for row in monthly],
            {
                "flagged by the model": [row["predicted"] for row in monthly],
                "with a recorded defect": [row["real"] for row in monthly],
            },
            y_title="vehicles",
        )
        if monthly
        else None,
    }
