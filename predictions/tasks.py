"""django-q2 entry points of the predictions app: take an id, call a service."""

from typing import Any

from predictions import services


def run_batch_prediction(batch_id: Any) -> None:
    """Run a queued batch prediction."""
    services.run_batch_prediction(batch_id=batch_id)


def close_feedback_window() -> int:
    """Record `[]` for predictions whose inspection window passed without a defect."""
    return services.close_feedback_window()
