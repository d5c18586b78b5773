"""Predictions as data arrives: the vehicles a results import brought, and, when a version is
activated, the vehicles still inside their labelling window (and any never predicted).

Queued for a worker by id (django-q2, dotted paths); nobody starts a batch. Batches stay for
files that are not stored.
"""

from __future__ import annotations

import logging
from typing import Any

from django_q.tasks import async_task

from crossline.exceptions import NoActiveModel
from mlmodels.selectors import (
    get_activation,
    get_thresholds_by_name,
    has_later_activation,
    list_predicting_versions,
)
from mlmodels.services import get_active_models
from plant.selectors import (
    get_indicated_tests,
    list_dataset_knrs,
    list_knrs_last_tested_since,
    list_tested_knrs,
)
from plant.services import record_dataset_predictions
from predictions.capacity import (
    get_capacity,
    get_window_closed_before,
    set_inspection_capacity,
)
from predictions.models import InspectionCapacity
from predictions.selectors import list_predicted_knrs
from predictions.services import explain_flagged_anew, predict_stored_knrs
from predictions.worklist import get_list_policy, reflag_every_day

logger = logging.getLogger(__name__)

NO_ACTIVE_MODEL = "not predicted: no active model (train one, or set a version as active)"


def queue_dataset_predictions(*, dataset_id: Any, knrs: list[str]) -> None:
    """After a results import: predict its vehicles on a worker, and say so on the dataset."""
    if not knrs:
        return
    if not list_predicting_versions():
        # Said at once; the first activation predicts these vehicles.
        record_dataset_predictions(dataset_id=dataset_id, note=NO_ACTIVE_MODEL)
        return
    record_dataset_predictions(
        dataset_id=dataset_id, note=f"queued: {len(knrs):,} vehicles to predict"
    )
    async_task(
        "predictions.tasks.predict_dataset_vehicles", str(dataset_id),
        task_name=f"predict-dataset-{dataset_id}",
    )


def predict_dataset_vehicles(*, dataset_id: Any) -> int:
    """Predict every vehicle whose rows a dataset brought, with the active models; the count
    (or why nothing was predicted) goes on the dataset."""
    knrs = list_dataset_knrs(dataset_id)
    try:
        models = get_active_models()
    except NoActiveModel:
        record_dataset_predictions(dataset_id=dataset_id, note=NO_ACTIVE_MODEL)
        return 0
    try:
        predicted = len(predict_stored_knrs(knrs, models=models))
    except Exception as error:
        record_dataset_predictions(
            dataset_id=dataset_id, note=f"prediction failed: {type(error).__name__}: {error}"
        )
        raise
    record_dataset_predictions(
        dataset_id=dataset_id, note=f"{predicted:,} vehicles predicted", predicted_count=predicted
    )
    return predicted


def change_inspection_capacity(*, user: Any = None, **changes: Any) -> InspectionCapacity:
    """Change the inspection capacity or the labelling window (`set_inspection_capacity`'s
    arguments); a new capacity flags again, on a worker, the vehicles inside their window."""
    before = get_capacity()
    record = set_inspection_capacity(user=user, **changes)
    if get_capacity() != before:
        async_task("predictions.tasks.flag_again", task_name="flag-again-after-capacity-change")
    return record


def flag_again() -> int:
    """After the capacity changed: every production day flagged again from the stored risks,
    then the vehicles inside their labelling window predicted again (with their reasons), and
    the others put on the list explained."""
    try:
        models = get_active_models()
    except NoActiveModel:
        models = {}
    policy = get_list_policy(models)
    listed_anew = reflag_every_day(policy, get_indicated_tests(), get_thresholds_by_name())
    if not models:
        return 0
    knrs = list_knrs_last_tested_since(get_window_closed_before())
    predicted = {p.knr for p in predict_stored_knrs(knrs, models=models)}
    # The others put on the list keep their stored prediction: they get its reasons now.
    explain_flagged_anew([knr for knr in listed_anew if knr not in predicted], models=models)
    return len(predicted)


def queue_predictions_after_activation(*, activation_id: Any) -> None:
    """After an activation: predict again on a worker what the new version should see."""
    async_task(
        "predictions.tasks.predict_after_activation", str(activation_id),
        task_name=f"predict-after-activation-{activation_id}",
    )


def predict_after_activation(*, activation_id: Any) -> int:
    """Predict, with the active models, the vehicles still inside their labelling window and
    those never predicted; once for activations made together (a retrain activates several
    kinds at once: the last one's task predicts, with every new version)."""
    activation = get_activation(activation_id)
    if activation is None or has_later_activation(activation):
        return 0
    try:
        models = get_active_models()
    except NoActiveModel:
        return 0
    inside = set(list_knrs_last_tested_since(get_window_closed_before()))
    never = set(list_tested_knrs()) - list_predicted_knrs()
    knrs = sorted(inside | never)
    logger.info(
        "After activating %s: predicting %d vehicles (%d inside their window, %d never "
        "predicted)", activation, len(knrs), len(inside), len(never),
    )
    return len(predict_stored_knrs(knrs, models=models))
