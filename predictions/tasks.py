"""django-q2 entry points of the predictions app: take an id, call a service."""

from typing import Any

from predictions import batches


def run_batch_prediction(batch_id: Any) -> None:
    """Run a queued batch prediction."""
    batches.run_batch_prediction(batch_id=batch_id)

