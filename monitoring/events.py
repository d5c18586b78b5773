"""Each event's details as receivers get them (webhook `data`, e-mail body), and its subject.

Built from the objects the signals carry; every value is plain JSON (numbers, text, lists),
so the same dict is stored, signed and sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitoring.models import TEST_EVENT, Event

# The metrics a version is summed up by in events.
VERSION_METRICS = ("pr_auc", "roc_auc", "recall", "precision", "flagged_share", "f1_score")


def run_data(run: Any) -> dict[str, Any]:
    """A finished training run: what ran, how it ended, what it registered."""
    return jsonable(
        {
            "run": {
                "id": str(run.pk),
                "kind": run.kind,
                "status": run.status,
                "pipeline": run.pipeline_name,
                "requested_by": _username(run.requested_by),
                "created_at": run.created_at,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "failed_step": run.failed_step or None,
                "error": run.error or None,
            },
            "versions": {
                kind: {
                    "model_name": metrics.get("model_name"),
                    **{name: metrics.get(name) for name in VERSION_METRICS},
                    "eligible": metrics.get("eligible"),
                }
                for kind, metrics in (run.metrics or {}).items()
            },
            "skipped": run.skipped or {},
        }
    )


def version_data(version: Any) -> dict[str, Any]:
    """A model version as events name it."""
    return {
        "model_name": version.model_name,
        "kind": version.type_model,
        "version": version.version,
        "threshold": version.threshold,
        "threshold_policy": version.threshold_policy,
        "eligible": version.eligible,
        "eligibility": version.eligibility,
        **{name: getattr(version, name) for name in VERSION_METRICS},
    }


def registered_data(version: Any, comparison: Mapping[str, Any] | None, run: Any) -> dict:
    """A version just registered, with its comparison to the active version of its kind."""
    compared = dict(comparison or {})
    return jsonable(
        {
            "version": version_data(version),
            "run": str(run.pk) if run is not None else None,
            "comparison": {
                "active_model": compared.get("last_model"),
                "message": compared.get("message"),
                "differences": compared.get("differences"),
                "active_model_metrics": _metrics(compared.get("last_model_metrics")),
            },
        }
    )


def activated_data(activation: Any) -> dict[str, Any]:
    """Who set which version as active, why, and which version it replaced."""
    previous = activation.previous_version
    return jsonable(
        {
            "version": version_data(activation.version),
            "previous_version": previous.model_name if previous is not None else None,
            "activated_by": _username(activation.activated_by),
            "activated_at": activation.activated_at,
            "reason": activation.reason,
            "override": activation.override,
            "sequence": activation.sequence,
        }
    )


def drift_alarm_data(
    *, kind: str, month: str, model_name: str, judgement: Mapping[str, Any],
    comparison: Mapping[str, Any], labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A kind's drift alarm for a production month (`mlmodels.drift.judge_month`'s verdict),
    the drifted columns it counted first, with their scores and thresholds (and `labels`, the
    columns in the team's words)."""
    columns = comparison["columns"]
    labels = labels or {}
    return jsonable(
        {
            "kind": kind,
            "month": month,
            "model_name": model_name,
            "vehicles": judgement["vehicles"],
            "drifted_share": judgement["drifted_share"],
            "considered": len(judgement["considered"]),
            "rule": judgement["rule"],
            "drifted": [
                {
                    "column": name,
                    "label": labels.get(name, name),
                    "score": columns[name]["score"],
                    "threshold": columns[name]["threshold"],
                    "missing_change": columns[name]["missing_change"],
                    "by": columns[name]["by"],
                }
                for name in judgement["drifted"]
            ],
        }
    )


def performance_alarm_data(
    *, kind: str, month: str, model_name: str, estimate: Mapping[str, Any]
) -> dict[str, Any]:
    """A kind's estimated performance out of its band for a production month
    (`mlmodels.estimation.estimate_month`)."""
    return jsonable(
        {
            "kind": kind,
            "month": month,
            "model_name": model_name,
            "vehicles": estimate["vehicles"],
            "estimate": estimate["estimate"],
            "band": {
                metric: None if band is None else {"lower": band["lower"], "upper": band["upper"]}
                for metric, band in estimate["band"].items()
            },
            "outside_band": estimate["outside_band"],
        }
    )


def test_data() -> dict[str, Any]:
    """What "send a test event" sends."""
    return {"message": "A test event from crossline: the endpoint and its secret work."}


def subject(event: str, data: Mapping[str, Any]) -> str:
    """One line naming the event, for an e-mail's subject."""
    if event in (Event.RUN_SUCCEEDED, Event.RUN_FAILED):
        run = data["run"]
        return f"Training run {run['id']} {run['status']}" + (
            f" in step {run['failed_step']}" if run.get("failed_step") else ""
        )
    if event == Event.VERSION_REGISTERED:
        return f"{data['version']['model_name']} registered"
    if event == Event.VERSION_ACTIVATED:
        return f"{data['version']['model_name']} is now the active {data['version']['kind']} model"
    if event == Event.DRIFT_ALARM:
        return f"Drift alarm: {data['kind']}, {data['month']}"
    if event == Event.PERFORMANCE_ALARM:
        return f"Performance alarm: {data['kind']}, {data['month']}"
    if event == TEST_EVENT:
        return "Test event"
    return event


def jsonable(value: Any) -> Any:
    """Plain JSON: times as ISO text, NumPy numbers as Python ones, NaN/inf as null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item"):  # NumPy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float):
        return value
    return str(value)


def _metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not metrics:
        return None
    return {name: metrics.get(name) for name in VERSION_METRICS if name in metrics}


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None
