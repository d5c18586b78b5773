"""The admin's one page for the plant's inspection capacity and labelling window."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from crossline.exceptions import InvalidInput
from predictions.arrivals import change_inspection_capacity
from predictions.capacity import LABEL_WINDOW_MAX_DAYS, check_capacity, set_inspection_capacity
from predictions.models import InspectionCapacity


class InspectionCapacityForm(forms.ModelForm):
    """A share typed as a percentage or a number of vehicles per day (or neither), and the
    window in days. The share is stored as a fraction (0.2), as the API gives it."""

    share_percent = forms.DecimalField(
        required=False,
        max_digits=9,
        decimal_places=4,
        label="Share of each production day's vehicles (%)",
        help_text="A percentage above 0 and at most 100: 20 means 20% of the day's vehicles.",
    )

    class Meta:
        model = InspectionCapacity
        fields = ["vehicles_per_day", "label_window_days"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.share is not None:
            # 0.2 × 100 is 20.000000000000004 in floating point: shown as 20.
            self.initial["share_percent"] = f"{self.instance.share * 100:g}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        percent = cleaned.get("share_percent")
        if percent is not None and not 0 < percent <= 100:
            raise forms.ValidationError({"share_percent": (
                f"{percent:g}% is not a share of the day's vehicles: give a percentage above "
                "0 and at most 100 (20 means 20%)."
            )})
        cleaned["share"] = None if percent is None else float(percent / 100)
        try:
            check_capacity(
                share=cleaned["share"], vehicles_per_day=cleaned.get("vehicles_per_day")
            )
        except InvalidInput as error:
            field = "share_percent" if error.field == "share" else error.field
            raise forms.ValidationError({field or None: str(error)}) from None
        window = cleaned.get("label_window_days")
        if window is not None and window > LABEL_WINDOW_MAX_DAYS:
            raise forms.ValidationError({"label_window_days": (
                f"Give the window as whole days, 0 to {LABEL_WINDOW_MAX_DAYS}."
            )})
        return cleaned


@admin.register(InspectionCapacity)
class InspectionCapacityAdmin(admin.ModelAdmin):
    """One row: the list leads straight to it; saving goes through the capacity service."""

    form = InspectionCapacityForm
    fieldsets = [
        ("Inspection capacity", {
            "fields": ["share_percent", "vehicles_per_day"],
            "description": "How many vehicles the team inspects per production day: a share of "
            "the day's vehicles (a percentage) or a number of them. The worklist takes each "
            "day's riskiest vehicles within it, never more than the share allows, and stays "
            "within 5 points of it on every day of at least 20 vehicles (on a smaller day, "
            "the cap wins: at 20%, a day of 14 vehicles lists 2). Leave both empty to let each "
            "model's threshold policy decide.",
        }),
        ("Labelling window", {
            "fields": ["label_window_days"],
            "description": "A vehicle with no defect recorded within this many days after its "
            "last test counts as defect-free from then on; realised metrics count only "
            "vehicles whose window has closed.",
        }),
        (None, {"fields": ["updated_by", "updated_at"]}),
    ]
    readonly_fields = ["updated_by", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # The migration created the one row; there is never a second.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        record = InspectionCapacity.objects.first()
        if record is None:
            # Removed by hand from the database: the first save makes it again.
            record = set_inspection_capacity(user=request.user)
        return HttpResponseRedirect(
            reverse("admin:predictions_inspectioncapacity_change", args=[record.pk])
        )

    def save_model(self, request: HttpRequest, obj: InspectionCapacity, form, change: bool):
        stored = change_inspection_capacity(
            share=form.cleaned_data["share"],
            vehicles_per_day=obj.vehicles_per_day,
            label_window_days=obj.label_window_days,
            user=request.user,
        )
        obj.pk = stored.pk
        self.message_user(request, f"Inspection capacity: {stored}.", messages.SUCCESS)
