"""The admin's monitoring page of a kind, from the same reports as the API: the share of drifted
columns per month with its alarm line, the month's columns ranked by importance × drift with
charts of the most important ones against the reference, estimated against realised precision
and recall per month."""

from __future__ import annotations

from typing import Any

from crossline.charts import bar_chart
from crossline.domain import kind_label
from crossline.exceptions import NotFound
from monitoring.models import Verdict
from monitoring.reports import drift_report, performance_report
from monitoring.selectors import list_monitored_kinds
from plant.selectors import get_fail_group_labels

# Columns drawn against the reference: the first of the ranking (the table lists them all).
CHARTED_COLUMNS = 6


def monitoring_context(kind: str | None, month: str | None) -> dict[str, Any]:
    """What the page shows for `kind` (default: the first monitored) and `month`."""
    kinds = list_monitored_kinds()
    kind = kind if kind in kinds else (kinds[0] if kinds else None)
    labels = get_fail_group_labels()
    context: dict[str, Any] = {
        "kinds": [{"kind": k, "label": kind_label(k, labels)} for k in kinds],
        "kind": kind,
        "error": "",
    }
    if kind is None:
        context["error"] = "No kind is monitored yet: no version is active."
        return context
    try:
        drift = drift_report(kind, month=month or None)
        performance = performance_report(kind)
    except NotFound as error:
        context["error"] = str(error)
        return context
    detail = drift["month"]
    # The verdicts in words ("Too few vehicles to judge"); the API keeps their codes.
    for entry in [*drift["months"], *([detail] if detail else []), *performance["months"]]:
        status = entry["status"]
        entry["status_label"] = Verdict(status).label if status in Verdict.values else status
    charted = [c for c in (detail["columns"] if detail else []) if c["bins"]][:CHARTED_COLUMNS]
    return {
        **context,
        "drift": drift,
        "performance": performance,
        "share_chart": share_chart(drift),
        "performance_chart": performance_chart(performance),
        "column_charts": [
            {"id": f"chart-column-{i}", "column": column, "config": column_chart(column, detail)}
            for i, column in enumerate(charted)
        ],
    }


def column_chart(column: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """A column's bins: the reference's shares beside the month's."""
    bins = column["bins"]
    return bar_chart(
        bins["labels"], {"reference": bins["reference"], detail["month"]: bins["month"]},
        percent=True, y_title="share of vehicles",
    )


def share_chart(drift: dict[str, Any]) -> dict[str, Any]:
    """Bars of the drifted share per month, and the alarm line across them."""
    months = drift["months"]
    config = bar_chart(
        [m["month"] for m in months],
        {"drifted share of the columns considered": [m["drifted_share"] for m in months]},
        percent=True, y_title="drifted columns",
    )
    config["data"]["datasets"].append({
        "type": "line", "label": "alarm line", "data": [drift["alarm_share"]] * len(months),
        "borderColor": "#ba2121", "borderDash": [6, 4], "pointRadius": 0,
    })
    config["options"]["plugins"]["legend"]["display"] = True
    return config


def performance_chart(performance: dict[str, Any]) -> dict[str, Any]:
    """Estimated and realised precision and recall per month."""
    months = performance["months"]

    def metric(source: str, name: str) -> list[float | None]:
        return [(m[source] or {}).get(name) for m in months]

    return bar_chart(
        [m["month"] for m in months],
        {
            "estimated precision": metric("estimated", "precision"),
            "realised precision": metric("realised", "precision"),
            "estimated recall": metric("estimated", "recall"),
            "realised recall": metric("realised", "recall"),
        },
        percent=True,
    )
