"""What a finished training run leaves in the registry: one version per kind, compared with
the active version on the same test set, and the first activations or promotions."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from mlmodels.models import ModelVersion
from mlmodels.selectors import list_active_versions
from mlmodels.services import (
    METRIC_FIELDS,
    activate_if_none_active,
    activate_model_version,
    load_pipeline,
    register_model_version,
)
from training.models import TrainingRun
from training.pipeline.estimators import predict_positive
from training.pipeline.explain import explain_version
from training.pipeline.judging import score_predictions
from training.pipeline.outcomes import KindsFailed, describe_error, kind_failure, require_finite

logger = logging.getLogger(__name__)


def register_run_versions(
    run: TrainingRun, result: dict[str, Any], pipeline_name: str, data: dict
) -> dict[str, ModelVersion]:
    """Register one version per trained kind, with its test-set metrics and its scores.

    A kind whose curves and top features cannot be computed joins `result["failed"]` and the
    others are registered; a registry that cannot store a version fails the run.
    """
    versions = {}
    test_set = result.get("test_set")
    failed = result.setdefault("failed", {})
    for kind, entry in result["models"].items():
        try:
            diagnostics = (
                explain_version(entry, test_set, kind)
                if test_set is not None and len(test_set)
                else {}
            )
        except Exception as error:
            failed[kind] = kind_failure(TrainingRun.SAVE_STEP, error, entry["n_train_positives"])
            logger.exception("Training run %s could not explain its %s model", run.pk, kind)
            continue
        versions[kind] = register_model_version(
            type_model=kind,
            pipeline=entry["pipeline"],
            threshold=entry["threshold"],
            metrics=entry["metrics"],
            training_run=run,
            data=data,
            pipeline_name=pipeline_name,
            feature_count=len(entry["feature_columns"]),
            n_train=entry["n_train"],
            n_test=entry["n_test"],
            diagnostics=diagnostics,
            heldout=entry.get("heldout"),
            test_scores=entry.get("test_scores"),
            judged=entry.get("judged"),
        )
    if not versions and failed:
        raise KindsFailed(failed)
    return versions


def version_metrics(version: ModelVersion) -> dict[str, Any]:
    """A version's stored test-set metrics as one dict."""
    metrics = {field: getattr(version, field) for field in METRIC_FIELDS}
    return {
        **metrics,
        "confusion_matrix": version.confusion_matrix,
        "support": version.support,
        "threshold": version.threshold,
        "threshold_policy": version.threshold_policy,
        "flagged_share": version.flagged_share,
        "eligible": version.eligible,
        "eligibility": version.eligibility,
        "model_name": version.model_name,
        "plain_pr_auc": version.plain_pr_auc,
        "judged": {
            key: getattr(version, f"judged_{key}")
            for key in ("folds", "vehicles", "positives", "pr_auc", "plain_pr_auc")
        },
    }


def compare_with_active(versions: dict[str, ModelVersion], result: dict[str, Any]) -> dict:
    """Score each challenger and the active version of its kind on the same test set."""
    test_set = result["test_set"]
    active = list_active_versions()
    kinds = {}
    for kind, challenger in versions.items():
        # The version's own threshold (its kind's policy) and the metrics at it.
        new_metrics = {**result["models"][kind]["metrics"], **version_metrics(challenger)}
        current = active.get(kind)
        last_metrics, differences = None, None
        message = f"No active {kind} model to compare with."
        if current is not None:
            try:
                scores = predict_positive(load_pipeline(current), result["test_results"])
                last_metrics = score_predictions(
                    test_set.labels[kind],
                    require_finite(scores.reindex(test_set.knrs), "active version's scores"),
                    current.threshold,
                )
            except Exception as error:
                # A version trained before inputs were bounded may not score values it never
                # saw (±1e308); the new versions are registered all the same.
                message = f"The active {current.model_name} could not be scored on this test "
                message += f"set: {describe_error(error)}"
        if last_metrics is not None:
            differences = {
                field: new_metrics[field] - last_metrics[field]
                for field in METRIC_FIELDS
                if new_metrics.get(field) is not None and last_metrics.get(field) is not None
            }
            message = comparison_message(kind, challenger, current, differences)
        kinds[kind] = {
            "new_model": challenger.model_name,
            "new_model_metrics": new_metrics,
            "last_model": current.model_name if current else None,
            "last_model_metrics": last_metrics,
            "differences": differences,
            "message": message,
        }
    return {
        "test_set": {
            "knrs": len(test_set),
            "first_knr": str(test_set.knrs.min()),
            "last_knr": str(test_set.knrs.max()),
        },
        "metric": settings.CROSSLINE_PROMOTE_METRIC,
        "kinds": kinds,
    }


def comparison_message(
    kind: str, challenger: ModelVersion, current: ModelVersion, differences: dict[str, float]
) -> str:
    """One sentence saying which model is better on the chosen metric."""
    metric = settings.CROSSLINE_PROMOTE_METRIC
    delta = differences.get(metric)
    if delta is None:
        return f"{metric} is undefined on this test set for {kind}."
    verdict = "better than" if delta > 0 else "worse than" if delta < 0 else "as good as"
    return (
        f"{challenger.model_name} is {verdict} the active {current.model_name} on "
        f"{metric} ({delta:+.4f}) on the same test set."
    )


def apply_first_activation_or_promotion(
    run: TrainingRun, versions: dict[str, ModelVersion], comparison: dict
) -> list[str]:
    """Activate kinds with no version able to predict; promote better challengers if so
    configured. A version below the activation gate is never activated here."""
    activated = []
    for kind, version in versions.items():
        if not version.eligible:
            continue
        if activate_if_none_active(version=version):
            activated.append(version.model_name)
            continue
        if not settings.CROSSLINE_AUTO_PROMOTE:
            continue
        delta = (comparison["kinds"][kind]["differences"] or {}).get(
            settings.CROSSLINE_PROMOTE_METRIC
        )
        if delta is not None and delta >= settings.CROSSLINE_PROMOTE_MARGIN:
            activate_model_version(
                version=version,
                user=run.requested_by,
                reason=f"auto-promoted: {settings.CROSSLINE_PROMOTE_METRIC} {delta:+.4f}",
            )
            activated.append(version.model_name)
    return activated
