"""The plant's inspection capacity and labelling window: read, checked and changed here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from crossline.exceptions import InvalidInput
from predictions.models import InspectionCapacity

# Ten years: a longer window is a typing error, and no date lies that far before today.
LABEL_WINDOW_MAX_DAYS = 3650

UNCHANGED: Any = object()


@dataclass(frozen=True)
class Capacity:
    """The capacity in force: a share of each production day's vehicles, a number of vehicles
    per day, or neither (the model kinds' threshold policies decide then)."""

    share: float | None = None
    vehicles_per_day: int | None = None

    @property
    def is_set(self) -> bool:
        return self.share is not None or self.vehicles_per_day is not None

    def allowed(self, vehicles: int) -> int | None:
        """The most vehicles a production day with `vehicles` may have on its worklist."""
        if self.share is not None:
            # Floor: a day's worklist never holds more than its share.
            return int(self.share * vehicles + 1e-9)
        if self.vehicles_per_day is not None:
            return min(self.vehicles_per_day, vehicles)
        return None

    def describe(self) -> str:
        """The capacity in words, as the pages say it."""
        if self.share is not None:
            return f"{self.share * 100:g}% of each production day's vehicles"
        if self.vehicles_per_day is not None:
            return f"{self.vehicles_per_day:,} vehicles per production day"
        return "no inspection capacity set"


def get_inspection_capacity_record() -> InspectionCapacity:
    """The stored row, or an unsaved one with nothing set."""
    stored = InspectionCapacity.objects.select_related("updated_by").first()
    return stored if stored is not None else InspectionCapacity()


def get_capacity() -> Capacity:
    """The inspection capacity in force."""
    # Two fields, not the record with its editor: every prediction reads this.
    stored = InspectionCapacity.objects.values_list("share", "vehicles_per_day").first()
    if stored is None:
        return Capacity()
    share, vehicles_per_day = stored
    return Capacity(share=share, vehicles_per_day=vehicles_per_day)


def get_label_window_days() -> int:
    """The labelling window in days: the team's, else the setting CROSSLINE_LABEL_WINDOW_DAYS."""
    stored = InspectionCapacity.objects.values_list("label_window_days", flat=True).first()
    return settings.CROSSLINE_LABEL_WINDOW_DAYS if stored is None else stored


def get_window_closed_before(*, now: datetime | None = None) -> datetime:
    """Vehicles whose last test was before this moment have their labelling window closed."""
    return (now or timezone.now()) - timedelta(days=get_label_window_days())


def check_capacity(*, share: Any, vehicles_per_day: Any) -> Capacity:
    """A capacity from what a person typed; InvalidInput naming the field otherwise."""
    if share is not None and vehicles_per_day is not None:
        raise InvalidInput(
            "Give a share of the day's vehicles or a number of vehicles per day, not both.",
            field="share",
        )
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int | float):
            raise InvalidInput("The share is a number in (0, 1]: 0.2 means 20%.", field="share")
        if share > 1:
            raise InvalidInput(
                f"A share of {share:g} is more than all of the day's vehicles: give it as a "
                f"share in (0, 1] (0.2 means 20%).",
                field="share",
            )
        if not share > 0:
            raise InvalidInput("The share must be above 0: 0.2 means 20%.", field="share")
        return Capacity(share=float(share))
    if vehicles_per_day is not None:
        if isinstance(vehicles_per_day, bool) or not isinstance(vehicles_per_day, int):
            raise InvalidInput("Give a whole number of vehicles.", field="vehicles_per_day")
        if vehicles_per_day < 1:
            raise InvalidInput("Give at least 1 vehicle per day.", field="vehicles_per_day")
        return Capacity(vehicles_per_day=vehicles_per_day)
    return Capacity()


def set_inspection_capacity(
    *,
    share: float | None = UNCHANGED,
    vehicles_per_day: int | None = UNCHANGED,
    label_window_days: int | None = UNCHANGED,
    user: Any = None,
) -> InspectionCapacity:
    """Change the capacity (a share, a number per day, or neither) and/or the labelling window
    (days, or None for the setting's default); what is not given stays as it is."""
    fields: dict[str, Any] = {}
    if share is not UNCHANGED or vehicles_per_day is not UNCHANGED:
        capacity = check_capacity(
            share=None if share is UNCHANGED else share,
            vehicles_per_day=None if vehicles_per_day is UNCHANGED else vehicles_per_day,
        )
        fields.update(share=capacity.share, vehicles_per_day=capacity.vehicles_per_day)
    if label_window_days is not UNCHANGED:
        if label_window_days is not None and (
            isinstance(label_window_days, bool)
            or not isinstance(label_window_days, int)
            or not 0 <= label_window_days <= LABEL_WINDOW_MAX_DAYS
        ):
            raise InvalidInput(
                f"Give the window as whole days, 0 to {LABEL_WINDOW_MAX_DAYS}.",
                field="label_window_days",
            )
        fields["label_window_days"] = label_window_days
    fields.update(
        updated_by=user if getattr(user, "is_authenticated", False) else None,
        updated_at=timezone.now(),
    )
    try:
        InspectionCapacity.objects.update_or_create(
            key=InspectionCapacity.SINGLETON, defaults=fields
        )
    except IntegrityError:
        # Another request created the row between our read and our write: update it.
        InspectionCapacity.objects.filter(key=InspectionCapacity.SINGLETON).update(**fields)
    return get_inspection_capacity_record()
