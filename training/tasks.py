"""django-q2 entry points of the training app: they take ids and call a service."""

from training import imports
from training.runs import execute_training_run as run


def execute_training_run(run_id: str) -> str:
    """Execute one queued training run; the service records failure and re-raises."""
    finished = run(run_id)
    return finished.status if finished is not None else "not queued"


def run_queued_import(dataset_id: str) -> str:
    """Import one queued upload; the service records failure and re-raises."""
    dataset = imports.run_queued_import(dataset_id)
    return dataset.status if dataset is not None else "not queued"


def reap_stale_work() -> str:
    """The reaper (a schedule): clean up after imports whose process died."""
    return f"{imports.reap_stale_imports()} imports reaped"
