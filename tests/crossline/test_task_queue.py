import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_q.tasks import async_task, result

ROOT = Path(__file__).resolve().parents[2]


def worker_environment() -> dict[str, str]:
    """The environment of a `qcluster` process that uses the test database."""
    env = dict(os.environ)
    if settings.USE_MONGODB:
        base, _, query = settings.MONGODB_URI.partition("?")
        env["MONGODB_URI"] = f"{base.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}?{query}"
    else:
        env["CROSSLINE_SQLITE_PATH"] = str(connection.settings_dict["NAME"])
    return env


@pytest.fixture
def qcluster():
    """A real django-q2 cluster in its own process, on the test database."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=worker_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_worker_process(qcluster):
    task_id = async_task("crossline.tasks.ping")
    assert result(task_id, wait=60_000) == "pong"


@pytest.mark.django_db
def test_a_task_that_waited_in_its_cluster_is_stamped_as_it_starts(settings):
    """Taken long ago, it must not read as held by a dead cluster once a worker runs it."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    from crossline.taskqueue import (
        list_queued_tasks,
        release_orphaned_tasks,
        start_task_heartbeat,
        stop_task_heartbeat,
    )

    settings.CROSSLINE_RUN_STALE_SECONDS = 60
    settings.CROSSLINE_HEARTBEAT_SECONDS = 30
    async_task("crossline.tasks.ping")
    row = OrmQ.objects.get()
    retry = timedelta(seconds=settings.Q_CLUSTER["retry"])
    OrmQ.objects.filter(pk=row.pk).update(lock=timezone.now() - timedelta(seconds=300) + retry)
    start_task_heartbeat(task={"ack_id": row.pk})
    try:
        (task,) = list_queued_tasks()
        assert task.taken and task.age(timezone.now()) < 5
        assert release_orphaned_tasks() == 0
    finally:
        stop_task_heartbeat()
