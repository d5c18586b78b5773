"""Reads of monitoring: the months checked per kind, a month's check, its summary, open alarms."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crossline.exceptions import NotFound
from mlmodels.models import ModelVersion
from mlmodels.references import get_version_reference, load_drift_reference, ranked_reference
from mlmodels.selectors import get_active_version, list_active_versions
from monitoring.models import Alarm, MonthCheck, MonthSummary


def list_monitored_kinds() -> list[str]:
    """The kinds with an active version or checked months, the fail model first."""
    kinds = set(list_active_versions()) | set(
        MonthCheck.objects.values_list("type_model", flat=True).distinct()
    )
    return sorted(kinds, key=lambda kind: (kind != "fail", kind))


def get_monitored_version(kind: str, model_name: str | None = None) -> ModelVersion:
    """The version a kind's monitoring shows: `model_name`, else the active one; NotFound."""
    if model_name:
        version = ModelVersion.objects.filter(type_model=kind, model_name=model_name).first()
        if version is None:
            raise NotFound(f"No {kind} version named {model_name!r}.")
        return version
    version = get_active_version(kind)
    if version is None:
        raise NotFound(f"No active {kind} model: nothing is monitored for it.")
    return version


def list_month_checks(version: ModelVersion) -> QuerySet[MonthCheck]:
    """The months checked against a version, oldest first."""
    return MonthCheck.objects.filter(model_name=version.model_name).order_by("month")


def get_month_check(version: ModelVersion, month: str) -> MonthCheck:
    """A month's check against a version; NotFound when it was not checked."""
    check = list_month_checks(version).filter(month=month).first()
    if check is None:
        raise NotFound(f"{month} has not been checked against {version.model_name}.")
    return check


def get_version_drift_reference(version: ModelVersion) -> dict[str, Any] | None:
    """The version's drift reference, its columns ranked by its importances (None without)."""
    link = get_version_reference(version)
    if link is None:
        return None
    return {**ranked_reference(load_drift_reference(link.reference), link),
            "reference_id": link.reference_id}


def get_month_summary(reference_id: Any, month: str) -> dict[str, Any] | None:
    """A month's counts in a reference's bins, or None."""
    stored = MonthSummary.objects.filter(reference_id=reference_id, month=month).first()
    return stored.summary if stored is not None else None


def list_open_alarms() -> QuerySet[Alarm]:
    """Alarms nobody closed yet, newest first."""
    return Alarm.objects.filter(closed_at=None).order_by("-raised_at")
