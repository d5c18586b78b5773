"""django-q2 entry points of the training app: they take ids and call a service."""

from training.runs import execute_training_run as run


def execute_training_run(run_id: str) -> str:
    """Execute one queued training run; the service records failure and re-raises."""
    finished = run(run_id)
    return finished.status if finished is not None else "not queued"
