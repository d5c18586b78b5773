"""How predictions answers the lower apps: their signals and hooks, connected in `ready()`."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from crossline.domain import fail_group_label
from crossline.numbers import percent
from plant.selectors import get_fail_group_labels
from predictions import arrivals, batches, feedback, selectors


def fill_feedback(sender: Any, *, knrs: list[str], **kwargs: Any) -> None:
    """Defects were imported: their KNRs' predictions get their real fail groups."""
    feedback.record_feedback(knrs=knrs)


def predict_arrived_vehicles(sender: Any, *, dataset: Any, knrs: list[str], **kwargs: Any):
    """Test results were imported: their vehicles are predicted in the background."""
    arrivals.queue_dataset_predictions(dataset_id=dataset.pk, knrs=knrs)


def predict_after_activation(sender: Any, *, activation: Any, **kwargs: Any) -> None:
    """A version was activated: what it should see is predicted again in the background."""
    arrivals.queue_predictions_after_activation(activation_id=activation.pk)


def reap_stale_batches(sender: Any, **kwargs: Any) -> str:
    """The reaper's pass: batches whose web process stopped mid-request are failed."""
    reaped = batches.reap_stale_inline_batches()
    return f"{reaped} inline batches failed" if reaped else ""


def latest_prediction(knr: str) -> dict[str, Any] | None:
    """A vehicle's current prediction for its page, or None if it has none."""
    prediction = selectors.get_latest_prediction(knr)
    if prediction is None:
        return None
    labels = get_fail_group_labels()
    return {
        "url": reverse("admin:predictions_prediction_change", args=[prediction.pk]),
        "p_fail": "no model" if prediction.p_fail is None else percent(prediction.p_fail),
        "flagged": prediction.predicted_fail,
        "created_at": prediction.created_at,
        "groups": [fail_group_label(code, labels) for code in prediction.predicted_fail_codes],
        "indicated_tests": prediction.indicated_tests,
        "risk": prediction.risk,
        "reasons": [reason.get("text", "") for reason in prediction.explanation or []],
    }
