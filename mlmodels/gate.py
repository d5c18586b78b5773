"""The activation gate (MLflow's MetricThreshold idea): may a version predict? Pure, no Django."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmodels.thresholds import share_at_odds


@dataclass(frozen=True)
class Eligibility:
    """Whether a version clears the gate, why, and the test-set facts it was judged on."""

    eligible: bool
    reason: str
    positives: int | None
    prevalence: float | None


def count_test_set(metrics: dict[str, Any]) -> tuple[int | None, int | None]:
    """(positives, vehicles) of the test set, from the confusion matrix [[tn, fp], [fn, tp]]."""
    matrix = metrics.get("confusion_matrix") or []
    try:
        (tn, fp), (fn, tp) = matrix
    except (TypeError, ValueError):
        return None, None
    return int(fn + tp), int(tn + fp + fn + tp)


def needed_pr_auc(prevalence: float, lift: float) -> float:
    """The PR-AUC whose odds are `lift` times the prevalence's.

    For a rare kind this is about lift × prevalence; for a common one it stays below 1 (a
    plain lift × prevalence would ask a model of a kind half the vehicles have for a PR-AUC
    above 0.75, which even the true probabilities may not reach).
    """
    return share_at_odds(prevalence, lift)


def check_eligibility(
    *,
    positives: int | None,
    vehicles: int | None,
    pr_auc: float | None,
    min_positives: int,
    min_lift: float,
    evidence: str = "the test set",
) -> Eligibility:
    """A version is eligible when the vehicles it was judged on (`evidence`: the test set, or
    every time fold) hold enough positives and its PR-AUC there clears the no-skill level
    (their prevalence) by the lift, on the odds scale (`needed_pr_auc`)."""
    if positives is None or not vehicles:
        return Eligibility(False, "no test-set counts to judge it on", None, None)
    prevalence = positives / vehicles
    if positives < min_positives:
        return Eligibility(
            False,
            f"only {positives} positives in {evidence} (the gate needs {min_positives})",
            positives,
            prevalence,
        )
    needed = needed_pr_auc(prevalence, min_lift)
    bar = f"{needed:.3f} (odds {min_lift:g}× those of the prevalence {prevalence:.3f})"
    if pr_auc is None or pr_auc < needed:
        shown = "undefined" if pr_auc is None else f"{pr_auc:.3f}"
        return Eligibility(False, f"PR-AUC {shown} below {bar}", positives, prevalence)
    return Eligibility(
        True,
        f"PR-AUC {pr_auc:.3f} ≥ {bar}; {positives} positives in {evidence}",
        positives,
        prevalence,
    )
