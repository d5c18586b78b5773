"""What a model version's admin pages show beyond its fields: the gate's verdict, lineage,
the comparison of versions, the confusion matrix, the curves and the features that matter."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from crossline import charts, numbers
from mlmodels.comparison import COMPARED_METRICS, compare_versions
from mlmodels.models import ModelVersion
from plant.columns import column_labels

# A version's page shows the metrics compared, bar the threshold it shows on its own.
SHOWN_METRICS = tuple(name for name in COMPARED_METRICS if name != "threshold")


def eligibility(version: ModelVersion) -> dict[str, Any]:
    """Whether the version passes the activation gate, and the gate's reason."""
    return {"eligible": version.eligible, "reason": version.eligibility}


def judged_context(version: ModelVersion) -> dict[str, Any] | None:
    """What the version was chosen and gated on: the time folds, their vehicles and positives,
    and its PR-AUC there beside the plain approach's (None for versions judged on the test set
    alone)."""
    if version.judged_folds is None:
        return None
    return {
        "folds": version.judged_folds,
        "training_folds": max(version.judged_folds - 1, 0),
        "vehicles": f"{version.judged_vehicles or 0:,}",
        "positives": f"{version.judged_positives or 0:,}",
        "pr_auc": numbers.significant(version.judged_pr_auc),
        "plain_pr_auc": numbers.significant(version.judged_plain_pr_auc),
    }


def lineage(version: ModelVersion) -> list[dict[str, str]]:
    """The datasets a version was trained on, as links to their admin pages."""
    found = []
    for entry in (version.data or {}).get("datasets", []):
        entry = entry if isinstance(entry, dict) else {"name": str(entry)}
        found.append(
            {
                "name": entry.get("name") or str(entry.get("id", "")),
                "kind": entry.get("kind", ""),
                "sha256": (entry.get("sha256") or "")[:12],
                "url": reverse("admin:plant_dataset_change", args=[entry["id"]])
                if entry.get("id")
                else "",
            }
        )
    return found


def compare_url(ids: list[Any]) -> str:
    """The comparison page of these versions."""
    query = urlencode({"ids": ",".join(str(i) for i in ids)})
    return f"{reverse('admin:mlmodels_modelversion_compare')}?{query}"


def comparison_context(versions: list[ModelVersion], active: ModelVersion | None) -> dict:
    """Metric rows with one cell per version; each later version's difference from the first."""
    comparison = compare_versions(versions, active)
    rows = []
    for name in COMPARED_METRICS:
        cells = []
        for compared in comparison.versions:
            difference = compared.differences[name]
            cells.append(
                {
                    "value": numbers.metric(name, compared.metrics[name]),
                    "difference": numbers.metric_difference(name, difference)
                    if difference is not None
                    else "",
                    "better": name in compared.better,
                    "worse": name in compared.worse,
                }
            )
        rows.append({"label": numbers.METRIC_LABELS[name], "cells": cells})
    columns = [
        {
            "version": compared.version,
            "url": reverse("admin:mlmodels_modelversion_change", args=[compared.version.pk]),
            "is_active": compared.is_active,
            "age": compared.version.created_at,
            "n_test": compared.version.n_test,
        }
        for compared in comparison.versions
    ]
    metric_names = ("pr_auc", "roc_auc", "recall", "precision", "f1_score")
    bars = charts.bar_chart(
        [numbers.METRIC_LABELS[name] for name in metric_names],
        {v.model_name: [getattr(v, name) for name in metric_names] for v in versions},
        percent=True,
    )
    curves = {
        v.model_name: [tuple(point) for point in (v.diagnostics or {}).get("pr_curve", [])]
        for v in versions
    }
    curves = {name: points for name, points in curves.items() if points}
    return {
        "columns": columns,
        "rows": rows,
        "metrics_chart": bars,
        "curves_chart": charts.line_chart(
            curves, x_title="recall", y_title="precision", percent=True, x_percent=True
        )
        if curves
        else None,
    }


def confusion_context(version: ModelVersion) -> dict[str, Any] | None:
    """The test-set confusion matrix at the threshold, with its shares, for a 2×2 table."""
    matrix = version.confusion_matrix or []
    if len(matrix) != 2 or any(len(row) != 2 for row in matrix):
        return None
    (tn, fp), (fn, tp) = matrix
    total = tn + fp + fn + tp
    share = (lambda n: numbers.percent(n / total)) if total else (lambda n: numbers.MISSING)
    return {
        "tn": f"{tn:,}", "fp": f"{fp:,}", "fn": f"{fn:,}", "tp": f"{tp:,}",
        "tn_share": share(tn), "fp_share": share(fp), "fn_share": share(fn), "tp_share": share(tp),
        "total": f"{total:,}",
    }


def pr_chart(version: ModelVersion) -> dict[str, Any] | None:
    """The precision-recall curve with the version's threshold marked."""
    diagnostics = version.diagnostics or {}
    curve = diagnostics.get("pr_curve")
    if not curve:
        return None
    point = diagnostics.get("threshold_point")
    marked = (
        {f"threshold {numbers.significant(version.threshold)}": [tuple(point)]} if point else None
    )
    return charts.line_chart(
        {"precision-recall curve": [tuple(p) for p in curve]},
        points=marked,
        x_title="recall: share of defective vehicles flagged",
        y_title="precision",
        percent=True,
        x_percent=True,
    )


def calibration_chart(version: ModelVersion) -> dict[str, Any] | None:
    """Predicted probability against the observed share of defects, per bin of vehicles."""
    bins = (version.diagnostics or {}).get("calibration")
    if not bins:
        return None
    return charts.line_chart(
        {"this model": [tuple(b) for b in bins]},
        diagonal=True,
        x_title="predicted probability",
        y_title="observed share with a defect",
        percent=True,
        x_percent=True,
    )


# The features a version's page charts (it keeps more: the drift alarm counts 50).
SHOWN_FEATURES = 15


def importance_context(version: ModelVersion) -> dict[str, Any] | None:
    """The most important features as a horizontal bar chart, and how they were measured."""
    importance = (version.diagnostics or {}).get("importance") or {}
    features = (importance.get("features") or [])[:SHOWN_FEATURES]
    if not features:
        return None
    return {
        "method": importance.get("method", ""),
        # The team's words for each column ("SECTION_ZP8_00000001 torque, screw 2, value").
        "chart": charts.bar_chart(
            list(column_labels([name for name, _ in features]).values()),
            {importance.get("method", "importance"): [value for _, value in features]},
            horizontal=True,
        ),
    }


def bar_width(value: float | None) -> int:
    """A metric in [0, 1] as a whole percentage for a bar's width (0 when unknown)."""
    return round(min(max(value or 0.0, 0.0), 1.0) * 100)
