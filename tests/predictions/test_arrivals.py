"""Predictions as data arrives: an import's vehicles, and after an activation those inside
their labelling window, predicted on a worker without anyone starting a batch."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.module_loading import import_string

from mlmodels.services import activate_model_version
from plant.imports import import_dataset
from plant.models import Dataset, Vehicle
from predictions import arrivals
from predictions.models import BatchPrediction, Prediction, PredictionHistory
from tests.predictions.conftest import write_results_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(monkeypatch) -> list[tuple]:
    """django-q2 as a worker runs it: the task found by its dotted path, given plain ids."""
    queued: list[tuple] = []

    def run(func: str, *args, **kwargs):
        assert all(isinstance(arg, str) for arg in args), "tasks get ids, not objects"
        queued.append((func, *args))
        return import_string(func)(*args)

    monkeypatch.setattr(arrivals, "async_task", run)
    return queued


def _import(trained, knrs: list[str], path: Path) -> Dataset:
    write_results_csv(trained, knrs, path)
    return import_dataset(path=path, original_name=path.name, kind="results")


def test_a_results_import_predicts_its_vehicles_and_says_so(
    active_models, worker, trained, tmp_path, staff_api
):
    knrs = trained.knrs[:12]
    dataset = _import(trained, knrs, tmp_path / "results.csv")

    assert worker == [("predictions.tasks.predict_dataset_vehicles", str(dataset.pk))]
    predicted = {p.knr: p.model_versions["fail"] for p in Prediction.objects.all()}
    assert predicted == dict.fromkeys(knrs, "fail-v1")
    dataset.refresh_from_db()
    assert (dataset.predictions, dataset.predicted_count) == ("12 vehicles predicted", 12)
    body = staff_api.get(f"/api/datasets/{dataset.pk}/").json()
    assert (body["predictions"], body["predicted_count"]) == ("12 vehicles predicted", 12)
    assert not BatchPrediction.objects.exists(), "nobody started a batch"


def test_new_rows_of_known_vehicles_predict_them_again(active_models, worker, trained, tmp_path):
    first = _import(trained, trained.knrs[:4], tmp_path / "first.csv")
    # A later export: two vehicles seen before (a retest) and one new.
    rows = trained.raw_results[trained.raw_results["KNR"].isin(trained.knrs[2:5])].copy()
    rows["DATA"] = rows["DATA"].str.replace("2024-", "2025-", n=1)
    rows.to_csv(tmp_path / "later.csv", index=False)
    later = import_dataset(path=tmp_path / "later.csv", original_name="later.csv", kind="results")

    assert [call[1] for call in worker] == [str(first.pk), str(later.pk)]
    assert set(Prediction.objects.values_list("knr", flat=True)) == set(trained.knrs[:5])
    assert sorted(PredictionHistory.objects.values_list("knr", flat=True)) == trained.knrs[2:4]
    later.refresh_from_db()
    assert later.predictions == "3 vehicles predicted"


def test_without_an_active_model_the_dataset_says_why(worker, trained, tmp_path):
    dataset = _import(trained, trained.knrs[:3], tmp_path / "results.csv")

    assert worker == []
    dataset.refresh_from_db()
    assert dataset.predictions.startswith("not predicted: no active model")
    assert dataset.predicted_count is None
    assert not Prediction.objects.exists()


def test_the_import_command_predicts_too(active_models, worker, trained, tmp_path):
    path = write_results_csv(trained, trained.knrs[:3], tmp_path / "results.csv")
    call_command("import_data", results=[path], stdout=StringIO())
    assert len(worker) == 1
    assert Prediction.objects.count() == 3


def test_a_queued_import_predicts_once_its_worker_imported_it(
    active_models, worker, trained, tmp_path, settings
):
    from plant.imports import queue_import, run_queued_import

    path = write_results_csv(trained, trained.knrs[:3], tmp_path / "results.csv")
    queued = queue_import(path=path, original_name="results.csv", kind="results")
    assert worker == [] and not Prediction.objects.exists()

    run_queued_import(str(queued.pk))

    assert worker == [("predictions.tasks.predict_dataset_vehicles", str(queued.pk))]
    assert Prediction.objects.count() == 3


def test_activating_a_version_predicts_again_the_vehicles_inside_their_window(
    active_models, worker, trained, tmp_path
):
    knrs = trained.knrs[:6]
    _import(trained, knrs, tmp_path / "results.csv")
    worker.clear()
    recent, old, never = knrs[:2], knrs[2:5], knrs[5]
    now = timezone.now()
    Vehicle.objects.filter(knr__in=recent).update(last_test_at=now - timedelta(days=3))
    Vehicle.objects.filter(knr__in=old).update(last_test_at=now - timedelta(days=30))
    Prediction.objects.filter(knr=never).delete()

    activation = activate_model_version(version=active_models["fail_inverted"], reason="test")

    assert worker == [("predictions.tasks.predict_after_activation", str(activation.pk))]
    versions = dict(Prediction.objects.values_list("knr", "model_versions"))
    assert {knr: versions[knr]["fail"] for knr in knrs} == {
        **dict.fromkeys(recent, "fail-v2"),  # inside their window: predicted again
        **dict.fromkeys(old, "fail-v1"),  # window closed: their prediction stands
        never: "fail-v2",  # never predicted: predicted now
    }


def test_activations_made_together_predict_once(active_models, trained, tmp_path, monkeypatch):
    from mlmodels.models import Activation

    _import(trained, trained.knrs[:2], tmp_path / "results.csv")
    Vehicle.objects.update(last_test_at=timezone.now())
    activations = list(Activation.objects.order_by("activated_at", "pk"))
    assert len(activations) == 3

    # The first two see a later one and leave the work to it.
    assert arrivals.predict_after_activation(activation_id=activations[0].pk) == 0
    assert arrivals.predict_after_activation(activation_id=activations[1].pk) == 0
    assert arrivals.predict_after_activation(activation_id=activations[2].pk) == 2


def test_a_new_capacity_flags_again_the_vehicles_inside_their_window(
    active_models, worker, trained, tmp_path
):
    knrs = trained.knrs[:4]
    _import(trained, knrs, tmp_path / "results.csv")
    Vehicle.objects.filter(knr__in=knrs[:2]).update(last_test_at=timezone.now())
    worker.clear()

    arrivals.change_inspection_capacity(share=0.5)
    arrivals.change_inspection_capacity(share=0.5)  # unchanged: nothing to do

    assert worker == [("predictions.tasks.flag_again",)]
    # Inside their window: predicted again; the others keep the prediction they had.
    generations = dict(Prediction.objects.values_list("knr", "generation"))
    assert generations == {knrs[0]: 2, knrs[1]: 2, knrs[2]: 1, knrs[3]: 1}
