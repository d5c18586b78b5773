"""What the monitoring page and its API show, built once for both: a kind's drift month by month
with the columns of one month ranked by importance × drift (each with its bins against the
reference's), and its estimated against realised performance month by month."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from mlmodels import drift
from mlmodels.estimation import METRICS
from monitoring.models import MonthCheck, Verdict
from monitoring.selectors import (
    get_monitored_version,
    get_month_check,
    get_month_summary,
    get_version_drift_reference,
    list_month_checks,
)
from plant.columns import column_labels


def drift_report(kind: str, *, month: str | None = None, model_name: str | None = None) -> dict:
    """A kind's share of drifted columns per month, and one month in detail (`month`, else the
    latest month judged)."""
    version = get_monitored_version(kind, model_name)
    checks = list(list_month_checks(version))
    chosen = None
    if month:
        chosen = get_month_check(version, month)
    elif checks:
        judged = [c for c in checks if c.drift != Verdict.TOO_FEW]
        chosen = (judged or checks)[-1]
    return {
        "kind": kind,
        "model_name": version.model_name,
        "alarm_share": alarm_share(chosen),
        "rule": chosen.rule if chosen is not None else "",
        "months": [month_drift(check) for check in checks],
        "month": month_drift_detail(version, chosen) if chosen is not None else None,
    }


def alarm_share(check: MonthCheck | None) -> float | None:
    """The share of its considered columns a check's month needed drifted to alarm."""
    if check is None or not check.considered:
        return None
    needed = drift.alarm_count(len(check.considered), settings.CROSSLINE_DRIFT_CHANCE)
    return needed / len(check.considered)


def month_drift(check: MonthCheck) -> dict[str, Any]:
    """One month's drift verdict in a line."""
    return {
        "month": check.month,
        "vehicles": check.vehicles,
        "status": check.drift,
        "alarm": check.drift == Verdict.ALARM,
        "drifted_share": check.drifted_share,
        "considered": len(check.considered),
        "drifted_columns": list(check.drifted),
        "trained_on": check.trained_on,
    }


def month_drift_detail(version: Any, check: MonthCheck) -> dict[str, Any]:
    """A month's verdict and its columns ranked by importance × drift (the columns the alarm
    counts and any other that drifted), each with its bins against the reference's."""
    reference = get_version_drift_reference(version)
    summary = (
        get_month_summary(reference["reference_id"], check.month) if reference else None
    ) or {"columns": {}}
    considered = set(check.considered)
    shown = [name for name, column in check.columns.items()
             if name in considered or column.get("drifted")]
    shown.sort(key=lambda name: -_weight(check.columns[name]))
    labels = column_labels(shown)
    return {
        **month_drift(check),
        "checked_at": check.checked_at,
        "columns": [
            {
                "column": name,
                "label": labels[name],
                **_column_fields(check.columns[name]),
                "bins": column_bins(
                    (reference or {}).get("columns", {}).get(name),
                    summary["columns"].get(name),
                ),
            }
            for name in shown
        ],
    }


def _weight(column: dict[str, Any]) -> float:
    """Importance × drift (the score over its threshold), drifted columns first among equals."""
    score = column.get("score") or 0.0
    threshold = column.get("threshold") or drift.THRESHOLD_FLOOR
    return column.get("importance", 0.0) * score / threshold + (1e-9 if column["drifted"] else 0)


def _column_fields(column: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": column["method"],
        "score": column["score"],
        "threshold": column["threshold"],
        "drifted": column["drifted"],
        "by": list(column.get("by", [])),
        "missing_reference": column["missing_reference"],
        "missing_now": column["missing_now"],
        "missing_change": column["missing_change"],
        "missing_threshold": column["missing_threshold"],
        "rank": column.get("rank"),
        "importance": column.get("importance", 0.0),
    }


def column_bins(reference: dict | None, entry: dict | None) -> dict[str, list] | None:
    """A column's bins: their labels, the reference's shares and the month's (of the vehicles
    with a value; values outside the reference's range or unseen in it in bins of their own)."""
    if not reference or not entry or reference.get("kind") == drift.CONSTANT:
        return None
    if reference["kind"] == drift.NUMERIC:
        edges = reference["edges"]
        labels = [
            f"{_number(edges[i])}–{_number(edges[i + 1])}" for i in range(len(edges) - 1)
        ] + [_number(edges[-1])]
        counts = [entry["below"][0], *entry["counts"], entry["above"][0]]
        labels = [f"< {_number(edges[0])}", *labels, f"> {_number(edges[-1])}"]
        expected = [0.0, *reference["shares"], 0.0]
    else:
        counts = [*entry["counts"], entry["other"]]
        labels = [_number(value) for value in reference["values"]] + ["other"]
        expected = [*reference["shares"], 0.0]
    present = sum(counts)
    return {
        "labels": labels,
        "reference": [float(share) for share in expected],
        "month": [count / present if present else 0.0 for count in counts],
    }


def _number(value: float) -> str:
    return f"{value:.4g}"


def performance_report(kind: str, *, model_name: str | None = None) -> dict[str, Any]:
    """A kind's estimated and realised precision, recall and flagged share per month, at the
    version's threshold, with the band the estimates are judged by."""
    version = get_monitored_version(kind, model_name)
    checks = list(list_month_checks(version))
    band = next((c.band for c in reversed(checks) if c.band), None)
    return {
        "kind": kind,
        "model_name": version.model_name,
        "threshold": version.threshold,
        "band": {metric: (band or {}).get(metric) for metric in METRICS},
        "months": [
            {
                "month": check.month,
                "vehicles": check.vehicles,
                "status": check.performance,
                "alarm": check.performance == Verdict.ALARM,
                "trained_on": check.trained_on,
                "threshold": check.threshold,
                "estimated": check.estimate,
                "realised": check.realised,
                "difference": check.difference,
                "outside_band": list(check.outside_band),
                "window_closed": check.window_closed,
            }
            for check in checks
        ],
    }
