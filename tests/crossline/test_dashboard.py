"""The admin index as the team's home: dashboard, app order, `/`, the favicon."""

import json
import re

import pytest
from django.test import Client

from crossline.numbers import metric_difference, percent, significant
from mlmodels.services import activate_model_version, register_model_version
from plant.models import Dataset
from training.models import TrainingRun


@pytest.mark.django_db
def test_apps_come_in_the_teams_order(admin_user_client):
    page = admin_user_client.get("/admin/").content.decode()
    captions = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', page)
    assert captions[:4] == ["Plant data", "Training", "Models", "Predictions"]
    assert "Authentication and Authorization" in captions[4:]


@pytest.mark.django_db
def test_the_home_page_sends_people_to_the_dashboard(admin_user_client):
    assert admin_user_client.get("/")["Location"] == "/admin/"
    # Not logged in: the admin sends a visitor on to its log-in page.
    assert Client().get("/admin/")["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(response.streaming_content)


@pytest.mark.django_db
def test_an_empty_installation_has_a_dashboard_that_says_so(admin_user_client):
    page = admin_user_client.get("/admin/").content.decode()
    assert "No model is active yet" in page
    assert "No training run yet." in page and "No import yet." in page


def chart(page: str, chart_id: str) -> dict:
    found = re.search(rf'<script id="{chart_id}" type="application/json">(.*?)</script>', page)
    assert found, f"no {chart_id} on the page"
    return json.loads(found[1])


@pytest.mark.django_db
def test_the_dashboard_shows_the_active_models_runs_imports_and_their_charts(
    admin_user_client, tiny_model
):
    versions = []
    for pr_auc in (0.5, 0.61234):
        versions.append(
            register_model_version(
                type_model="group_9830946",
                pipeline=tiny_model,
                threshold=0.3,
                metrics={"pr_auc": pr_auc, "recall": 0.8, "precision": 0.25},
            )
        )
    activate_model_version(version=versions[1], override=True, reason="test versions")
    TrainingRun.objects.create(status=TrainingRun.Status.FAILED, error="ValueError: boom")
    Dataset.objects.create(kind="results", original_name="march.csv", size_bytes=1,
                           sha256="a" * 64, status=Dataset.Status.IMPORTING, progress=40)

    page = admin_user_client.get("/admin/").content.decode()

    assert "Electrical" in page and "group_9830946-v2" in page and "0.612" in page
    assert "Failed" in page and "ValueError: boom" in page
    assert "march.csv" in page and "40%" in page
    history = chart(page, "chart-history")["data"]["datasets"]
    assert history[0]["label"] == "9830946 Electrical"
    assert [point["y"] for point in history[0]["data"]] == [0.5, 0.61234]
    assert "crossline/vendor/chartjs/chart.umd.min.js" in page


@pytest.fixture
def tiny_model():
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit([[0], [1]], [0, 1])


def test_numbers_are_rounded_for_people():
    assert significant(0.6123456789012345) == "0.612"
    assert significant(0.0012345) == "0.00123"
    assert significant(12345) == "12,345"
    assert significant(None) == "–"
    assert percent(0.8512345) == "85.1%"
    assert percent(1.0) == "100.0%"
    assert [percent(0.0468), percent(0.176), percent(0)] == ["4.7%", "17.6%", "0.0%"]
    assert metric_difference("recall", 0.85 - 0.70) == "+15 pts"
    assert metric_difference("pr_auc", -0.05) == "−0.0500"
