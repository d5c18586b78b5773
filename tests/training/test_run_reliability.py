"""Training runs that never hang: no waiting in a task, one identical run, CAS, the reaper."""

import tempfile
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import async_task

from crossline.exceptions import DuplicateRun
from crossline.scratch import scratch_root
from crossline.taskqueue import list_queued_tasks, release_orphaned_tasks, task_queue_state
from mlmodels.models import ModelVersion
from plant.models import Dataset
from tests.training.test_runs import demo_files, fast_pipeline, imported  # noqa: F401
from training import runs
from training.models import PipelineDefinition, TrainingRun
from training.runs import (
    claim_training_run,
    close_run,
    execute_training_run,
    reap_stale_runs,
    start_training_run,
)
from training.tasks import reap_stale_work

pytestmark = pytest.mark.django_db



@pytest.fixture
def some_data():
    """Two ready datasets: enough for a run to be queued (not to train)."""
    for kind, sha in (("results", "a" * 64), ("defects", "b" * 64)):
        Dataset.objects.create(
            kind=kind, original_name=f"{kind}.csv", sha256=sha, size_bytes=1,
            status=Dataset.Status.READY,
        )


@pytest.fixture
def other_pipeline():
    definition = runs.get_pipeline_definition("default")[0].definition
    PipelineDefinition.objects.create(name="other", definition={**definition, "name": "other"})


def running_run() -> TrainingRun:
    run = start_training_run(enqueue=False)
    assert claim_training_run(run.pk) is not None
    return TrainingRun.objects.get(pk=run.pk)


def test_a_run_that_cannot_start_stays_queued_and_the_task_returns_at_once(
    some_data, other_pipeline
):
    first = running_run()
    second = start_training_run(enqueue=False, pipeline_name="other")
    began = time.monotonic()
    assert execute_training_run(second.pk) is None
    assert time.monotonic() - began < 5, "the task must not wait for the running run"
    second.refresh_from_db()
    assert second.status == TrainingRun.Status.QUEUED
    assert TrainingRun.objects.get(pk=first.pk).status == TrainingRun.Status.RUNNING


def test_only_one_run_runs_at_a_time(some_data, other_pipeline):
    first = start_training_run(enqueue=False)
    second = start_training_run(enqueue=False, pipeline_name="other")
    assert claim_training_run(first.pk) is not None
    assert claim_training_run(second.pk) is None
    assert TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).count() == 1


def test_the_end_of_a_run_gives_the_next_queued_run_a_task(some_data, other_pipeline):
    first = running_run()
    second = start_training_run(enqueue=False, pipeline_name="other")
    assert close_run(
        first, TrainingRun.Status.FAILED, from_status=TrainingRun.Status.RUNNING, error="x"
    )
    assert runs.dispatch_next_run().pk == second.pk
    second.refresh_from_db()
    assert second.task_id in {t.task_id for t in list_queued_tasks()}
    # Its task waits in the queue: a second dispatch does not add another.
    assert runs.dispatch_next_run() is None
    assert OrmQ.objects.count() == 1


def test_an_identical_run_is_refused_while_one_is_queued_and_nothing_is_stored(some_data):
    first = start_training_run(enqueue=False)
    with pytest.raises(DuplicateRun, match=rf"already queued or running: run {first.pk} is queued"):
        start_training_run(enqueue=False, kind=TrainingRun.Kind.RETRAIN)
    assert TrainingRun.objects.count() == 1
    assert OrmQ.objects.count() == 0


def test_an_identical_run_is_refused_while_one_is_running(some_data):
    first = running_run()
    with pytest.raises(DuplicateRun, match=f"run {first.pk} is running"):
        start_training_run()
    assert TrainingRun.objects.count() == 1
    assert OrmQ.objects.count() == 0


def test_a_finished_run_frees_its_identity(some_data):
    first = running_run()
    close_run(first, TrainingRun.Status.FAILED, from_status=TrainingRun.Status.RUNNING)
    again = start_training_run(enqueue=False)
    assert again.pk != first.pk


def test_new_data_makes_a_different_run(some_data):
    start_training_run(enqueue=False)
    Dataset.objects.create(
        kind="results", original_name="more.csv", sha256="c" * 64, size_bytes=1,
        status=Dataset.Status.READY,
    )
    start_training_run(enqueue=False)
    assert TrainingRun.objects.count() == 2


def test_api_answers_409_for_an_identical_run(some_data, staff_api):
    assert staff_api.post("/api/train/").status_code == 202
    response = staff_api.post("/api/train/retrain/")
    assert response.status_code == 409
    assert "identical training run" in response.json()["detail"]
    assert TrainingRun.objects.count() == 1


def test_admin_says_an_identical_run_is_already_queued(some_data, admin_user_client):
    for _ in range(2):
        response = admin_user_client.post(
            "/admin/training/trainingrun/train/",
            {"kind": "train", "pipeline": "default"},
            follow=True,
        )
    assert b"identical training run" in response.content
    assert TrainingRun.objects.count() == 1


def test_train_command_says_an_identical_run_is_already_queued(some_data):
    call_command("train", stdout=StringIO())
    with pytest.raises(CommandError, match="identical training run"):
        call_command("train", stdout=StringIO())
    assert TrainingRun.objects.count() == 1


def test_train_wait_says_when_the_run_cannot_start_now(some_data, other_pipeline):
    running_run()
    with pytest.raises(CommandError, match="cannot start now: another run is running"):
        call_command("train", "--wait", "--pipeline", "other", stdout=StringIO(), stderr=StringIO())
    assert TrainingRun.objects.filter(pipeline_name="other").get().status == "queued"


def test_the_final_success_never_overwrites_the_reapers_failure(
    imported, fast_pipeline, monkeypatch  # noqa: F811
):
    register = runs.register_run_versions

    def reaped_while_saving(run, *args, **kwargs):
        versions = register(run, *args, **kwargs)
        silent = timezone.now() - timedelta(hours=1)
        TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=silent)
        assert reap_stale_runs() == 1
        return versions

    monkeypatch.setattr(runs, "register_run_versions", reaped_while_saving)
    run = start_training_run(enqueue=False, pipeline_name="quick")
    execute_training_run(run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "no heartbeat" in run.error
    assert ModelVersion.objects.filter(training_run=run).count() == 0


def test_the_reaper_fails_a_silent_run_and_removes_its_temporary_files(some_data, settings):
    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    run = running_run()
    left = Path(tempfile.mkdtemp(prefix=f"crossline-run-{run.pk}-", dir=scratch_root()))
    (left / "results.parquet").write_bytes(b"x")
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=61), current_step="train_models"
    )
    assert reap_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert run.failed_step == "train_models"
    assert "no heartbeat for 61 s" in run.error
    assert not left.exists()
    # Its identity and the running key are free again.
    assert claim_training_run(start_training_run(enqueue=False).pk) is not None


def test_the_reaper_leaves_a_run_with_a_recent_heartbeat(some_data, settings):
    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    run = running_run()
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=50)
    )
    assert reap_stale_runs() == 0
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.RUNNING


def test_the_reaper_gives_a_queued_run_whose_task_is_gone_a_new_task(some_data):
    run = start_training_run()
    OrmQ.objects.all().delete()
    reap_stale_work()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED
    assert [t.task_id for t in list_queued_tasks()] == [run.task_id]


def take(task_id: str, *, taken_ago: timedelta) -> None:
    """Mark a task as taken by a cluster `taken_ago` (the broker's lock: taken at + retry)."""
    from django.conf import settings

    row = next(r for r in OrmQ.objects.all() if r.task_id() == task_id)
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    OrmQ.objects.filter(pk=row.pk).update(lock=timezone.now() - taken_ago + retry)


def test_tasks_held_by_a_dead_cluster_are_released(settings):
    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    ran, ahead = async_task("crossline.tasks.ping"), async_task("crossline.tasks.ping")
    take(ran, taken_ago=timedelta(seconds=90))
    take(ahead, taken_ago=timedelta(seconds=91))
    assert {t.taken for t in list_queued_tasks()} == {True}
    assert release_orphaned_tasks() == 2
    tasks = list_queued_tasks()
    assert {t.taken for t in tasks} == {False}
    assert all(t.since <= timezone.now() for t in tasks)


def test_the_reaper_drops_the_task_of_the_run_it_fails_even_while_a_worker_is_busy(
    some_data, settings
):
    """A worker killed mid-run leaves its task taken; a new worker busy with the next run
    defers every release, and `/healthz` would name the dead task until it is idle."""
    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    dead = start_training_run()
    assert claim_training_run(dead.pk) is not None
    TrainingRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=90)
    )
    take(dead.task_id, taken_ago=timedelta(seconds=90))
    busy = async_task("crossline.tasks.ping")
    take(busy, taken_ago=timedelta(seconds=2))

    assert release_orphaned_tasks() == 0  # a worker is busy: nothing is released
    assert reap_stale_runs() == 1

    assert TrainingRun.objects.get(pk=dead.pk).status == TrainingRun.Status.FAILED
    assert [t.task_id for t in list_queued_tasks()] == [busy]
    assert task_queue_state()["orphaned"] == 0


def test_tasks_are_not_released_while_a_worker_is_busy(settings):
    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    busy, ahead = async_task("crossline.tasks.ping"), async_task("crossline.tasks.ping")
    take(busy, taken_ago=timedelta(seconds=5))
    take(ahead, taken_ago=timedelta(seconds=300))
    assert release_orphaned_tasks() == 0
    assert {t.taken for t in list_queued_tasks()} == {True}


def test_a_heartbeat_beats_during_a_long_step(some_data, settings):
    from crossline.beat import Heartbeat

    beats = []
    with Heartbeat(lambda: beats.append(time.monotonic()), every=0.05, name="test"):
        time.sleep(0.5)  # a step that never returns to the caller's code
    assert len(beats) >= 5
    count = len(beats)
    time.sleep(0.2)
    assert len(beats) == count, "the heartbeat stops with the block"


@pytest.mark.django_db(transaction=True)
def test_a_running_run_beats_from_its_own_thread(some_data):
    from crossline.beat import Heartbeat

    run = running_run()
    old = timezone.now() - timedelta(hours=1)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=old)
    with Heartbeat(lambda: runs.beat_run(run.pk), every=0.05, name="test"):
        time.sleep(0.4)
    assert TrainingRun.objects.get(pk=run.pk).heartbeat_at > old + timedelta(minutes=59)
