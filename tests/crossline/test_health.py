import pytest
from django.db import connection
from django.db.utils import OperationalError


@pytest.mark.django_db
def test_health_reports_database_and_task_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["task_queue"]["queued"] == 0


@pytest.mark.django_db
def test_health_counts_queued_tasks(client):
    from django_q.tasks import async_task

    async_task("crossline.tasks.ping")
    assert client.get("/healthz").json()["task_queue"]["queued"] == 1


@pytest.mark.django_db
def test_health_answers_503_when_the_database_is_unreachable(client, monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False
    assert "connection refused" in response.json()["database"]["error"]


@pytest.mark.django_db
def test_health_answers_503_naming_a_run_whose_heartbeat_stopped(client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from training.models import TrainingRun

    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.RUNNING,
        current_step="train_models",
        heartbeat_at=timezone.now() - timedelta(seconds=75),
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "stuck"
    assert [str(pk) for pk in body["training"]["stuck_runs"]] == [str(run.pk)]
    assert f"Training run {run.pk} is stuck in step 'train_models'" in body["problems"][0]
    assert "no heartbeat for 75 s" in body["problems"][0]
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_health_answers_503_when_the_task_queue_has_not_moved(client, settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    settings.CROSSLINE_QUEUE_STALL_SECONDS = 300
    async_task("crossline.tasks.ping")
    assert client.get("/healthz").status_code == 200
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=400))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "task queue has not moved" in response.json()["problems"][0]
    assert response.json()["task_queue"]["oldest_queued_seconds"] >= 400


@pytest.mark.django_db
def test_a_task_taken_by_a_worker_never_shows_a_negative_wait(client, settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    async_task("crossline.tasks.ping")
    async_task("crossline.tasks.ping")
    # One taken by a worker 10 s ago: its lock is "taken at + retry", hours ahead.
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    taken = OrmQ.objects.order_by("pk").first()
    OrmQ.objects.filter(pk=taken.pk).update(lock=timezone.now() - timedelta(seconds=10) + retry)
    queue = client.get("/healthz").json()["task_queue"]
    assert queue["queued"] == 1 and queue["taken"] == 1
    assert 0 <= queue["oldest_queued_seconds"] < 60
    assert queue["worker_busy"] is True


@pytest.mark.django_db
def test_health_answers_503_when_tasks_are_held_by_a_worker_that_stopped(client, settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    async_task("crossline.tasks.ping")
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=10) + retry)
    assert client.get("/healthz").status_code == 200  # taken 10 s ago: a worker is on it
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=90) + retry)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "1 task(s) are held by a worker that stopped" in response.json()["problems"][0]
    assert response.json()["task_queue"]["oldest_queued_seconds"] == 0
