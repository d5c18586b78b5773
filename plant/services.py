"""Writes of the plant's data beyond imports: what became of a dataset's vehicles."""

from __future__ import annotations

from typing import Any

from plant.models import Dataset


def record_dataset_predictions(
    *, dataset_id: Any, note: str, predicted_count: int | None = None
) -> bool:
    """Say on a dataset what became of the vehicles it brought ("1,250 vehicles predicted", or
    why not); False if the dataset is gone."""
    return bool(
        Dataset.objects.filter(pk=dataset_id).update(
            predictions=note[:255], predicted_count=predicted_count
        )
    )
