"""django-q2 entry points of the plant app: they take ids and call a service."""

from plant import imports


def run_queued_import(dataset_id: str) -> str:
    """Import one queued upload; the service records failure and re-raises."""
    dataset = imports.run_queued_import(dataset_id)
    return dataset.status if dataset is not None else "not queued"
