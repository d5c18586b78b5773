"""django-q2 entry points of the predictions app: take an id, call a service."""

from typing import Any

from predictions import batches, feedback


def run_batch_prediction(batch_id: Any) -> None:
    """Run a queued batch prediction."""
    batches.run_batch_prediction(batch_id=batch_id)


def close_feedback_window() -> int:
    """Record `[]` for predictions whose inspection window passed without a defect."""
    return feedback.close_feedback_window()
