"""Batch prediction: inline for small inputs, queued with progress for large ones."""

from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from mlmodels.services import get_active_models
from predictions import batches, services, tasks
from predictions.models import BatchPrediction, Prediction
from tests.predictions.conftest import write_results_csv

pytestmark = pytest.mark.django_db


def _upload(trained, knrs, tmp_path, name="batch.csv") -> SimpleUploadedFile:
    path = write_results_csv(trained, knrs, tmp_path / name)
    return SimpleUploadedFile(name, path.read_bytes(), content_type="text/csv")


def test_a_small_upload_is_predicted_inline_without_storing_a_dataset(
    staff_api, active_models, trained, tmp_path
):
    from plant.models import Dataset

    knrs = trained.knrs[20:25]
    response = staff_api.post(
        "/api/predictions/batch/", {"file": _upload(trained, knrs, tmp_path)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["predicted_count"] == 5
    assert sorted(p["KNR"] for p in body["predictions"]) == knrs
    assert set(Prediction.objects.values_list("knr", flat=True)) == set(knrs)
    assert Dataset.objects.count() == 0
    assert staff_api.get(body["url"]).json()["status"] == "succeeded"
    csv_response = staff_api.get(body["url"] + "result/")
    assert csv_response.status_code == 200
    lines = b"".join(csv_response.streaming_content).decode().splitlines()
    assert lines[0] == (
        "KNR,p_fail,p_2,p_4,flagged,flagged_by,predicted_fail_codes,no_model_groups,"
        "indicated_tests"
    )
    assert sorted(line.split(",")[0] for line in lines[1:]) == knrs


def test_a_large_upload_is_queued_and_the_task_predicts_it_with_progress(
    staff_api, active_models, trained, tmp_path, settings, monkeypatch
):
    settings.CROSSLINE_BATCH_SYNC_LIMIT = 3
    queued = []
    monkeypatch.setattr(
        "predictions.batches.async_task",
        lambda func, *args, **kw: queued.append((func, args)) or "t1",
    )
    knrs = trained.knrs[30:38]
    response = staff_api.post(
        "/api/predictions/batch/", {"file": _upload(trained, knrs, tmp_path)}, format="multipart"
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    assert Prediction.objects.count() == 0
    [(func, args)] = queued
    assert func == "predictions.tasks.run_batch_prediction"

    tasks.run_batch_prediction(*args)

    batch = BatchPrediction.objects.get(pk=args[0])
    assert (batch.status, batch.progress, batch.knr_count, batch.predicted_count) == (
        "succeeded", 100, 8, 8
    )
    assert set(Prediction.objects.values_list("knr", flat=True)) == set(knrs)
    # A second run of the same batch (a retried task) predicts nothing twice.
    assert batches.run_batch_prediction(batch_id=batch.pk) is None
    status = staff_api.get(response.json()["url"]).json()
    assert status["predicted_count"] == 8


def test_a_batch_whose_worker_stopped_mid_run_is_predicted_again_when_its_task_returns(
    staff_api, active_models, stored_knrs
):
    """A killed worker leaves its batch running at some progress; the queue hands the task to
    another worker (crossline.taskqueue.release_orphaned_tasks), which starts it again."""
    knrs = stored_knrs[:4]
    batch = BatchPrediction.objects.create(
        knrs=knrs, knr_count=len(knrs), status="running", attempts=1, progress=50,
        predicted_count=2,
    )
    # What it stored before it died.
    services.predict_stored_knrs(knrs[:2], models=get_active_models())

    tasks.run_batch_prediction(batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.progress, batch.predicted_count) == (
        "succeeded", 2, 100, 4
    )
    assert sorted(Prediction.objects.values_list("knr", flat=True)) == sorted(knrs)
    body = staff_api.get(f"/api/predictions/batches/{batch.pk}/").json()
    assert (body["status"], body["attempts"]) == ("succeeded", 2)
    # Delivered once more, the finished batch is left alone.
    assert batches.run_batch_prediction(batch_id=batch.pk) is None
    batch.refresh_from_db()
    assert batch.attempts == 2


def test_a_batch_another_worker_took_meanwhile_is_left_to_it(active_models, stored_knrs,
                                                              monkeypatch):
    batch = BatchPrediction.objects.create(knrs=stored_knrs[:2], knr_count=2)
    real_filter = BatchPrediction.objects.filter

    def taken_between_read_and_claim(*args, **kwargs):
        if "attempts" in kwargs:  # the claim: another worker started the batch just before
            BatchPrediction.objects.filter(pk=batch.pk).update(status="running", attempts=1)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(BatchPrediction.objects, "filter", taken_between_read_and_claim)
    assert batches.run_batch_prediction(batch_id=batch.pk) is None
    monkeypatch.undo()
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("running", 1)
    assert Prediction.objects.count() == 0


def test_the_reaper_fails_an_inline_batch_whose_web_process_stopped(staff_api):
    """A batch predicted within its request has no task to hand to another worker: when its
    web process stops mid-way it would show "running" for ever. The reaper fails it once it is
    older than CROSSLINE_INLINE_BATCH_STALE_SECONDS; a worker's batch and a young one stay."""
    from datetime import timedelta

    from training.tasks import reap_stale_work

    long_ago = timezone.now() - timedelta(minutes=20)
    cut_short, worker, young = (
        BatchPrediction.objects.create(knr_count=3, status="running", task_id=task)
        for task in ("", "q-task-1", "")
    )
    BatchPrediction.objects.filter(pk__in=[cut_short.pk, worker.pk]).update(created_at=long_ago)

    assert "1 inline batches failed" in reap_stale_work()

    for batch in (cut_short, worker, young):
        batch.refresh_from_db()
    assert (cut_short.status, worker.status, young.status) == ("failed", "running", "running")
    assert "web process stopped" in cut_short.error and cut_short.finished_at is not None
    body = staff_api.get(f"/api/predictions/batches/{cut_short.pk}/").json()
    assert body["status"] == "failed" and "20 minutes" in body["error"]
    # Reaped once: the next pass finds nothing more.
    assert "inline batches" not in reap_stale_work()


def test_a_queued_batch_runs_in_the_task_queue(
    active_models, stored_knrs, settings, monkeypatch
):
    settings.CROSSLINE_BATCH_SYNC_LIMIT = 2
    # django-q2 reads Q_CLUSTER once at import: switch its sync mode where it keeps it.
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    since = timezone.make_aware(datetime(2020, 1, 1))
    batch, predictions = batches.start_batch_prediction(since=since)
    assert predictions is None
    batch.refresh_from_db()
    assert batch.status == "succeeded"
    assert batch.predicted_count == len(stored_knrs)
    assert set(Prediction.objects.values_list("knr", flat=True)) == set(stored_knrs)


def test_since_a_date_predicts_only_the_later_vehicles(active_models, stored_knrs):
    from plant.models import Vehicle

    cut = Vehicle.objects.get(knr=stored_knrs[6]).first_test_at
    batch, predictions = batches.start_batch_prediction(since=cut)
    expected = set(
        Vehicle.objects.filter(first_test_at__gte=cut).values_list("knr", flat=True)
    )
    assert 0 < len(expected) < len(stored_knrs)
    assert {p.knr for p in predictions} == expected
    assert batch.status == "succeeded"


def test_a_file_that_is_not_a_results_export_is_a_400(staff_api, active_models):
    upload = SimpleUploadedFile("defects.csv", b"KNR,S_GROUP_ID,DATA\n2024-0000001,2,2024-01-01\n")
    response = staff_api.post("/api/predictions/batch/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert BatchPrediction.objects.count() == 0


def test_a_failing_batch_is_marked_failed_with_the_error(active_models, trained, tmp_path,
                                                         settings, monkeypatch):
    settings.CROSSLINE_BATCH_SYNC_LIMIT = 1
    monkeypatch.setattr("predictions.batches.async_task", lambda *a, **k: "t2")
    batch, _ = batches.start_batch_prediction(
        upload=_upload(trained, trained.knrs[40:43], tmp_path)
    )

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "store_predictions", boom)
    with pytest.raises(RuntimeError, match="^disk full$"):  # the failure itself, re-raised
        batches.run_batch_prediction(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == "failed"
    assert "disk full" in batch.error
