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
