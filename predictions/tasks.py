"""django-q2 entry points of the predictions app: take an id, call a service."""

from typing import Any

from predictions import arrivals, batches


def run_batch_prediction(batch_id: Any) -> None:
    """Run a queued batch prediction."""
    batches.run_batch_prediction(batch_id=batch_id)



def predict_dataset_vehicles(dataset_id: Any) -> int:
    """Predict the vehicles a results import brought."""
    return arrivals.predict_dataset_vehicles(dataset_id=dataset_id)


def predict_after_activation(activation_id: Any) -> int:
    """Predict again, after an activation, the vehicles inside their labelling window."""
    return arrivals.predict_after_activation(activation_id=activation_id)


def flag_again() -> int:
    """The capacity changed: flag every production day again."""
    return arrivals.flag_again()
