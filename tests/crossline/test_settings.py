import pytest
from django.core.exceptions import ImproperlyConfigured

from crossline import settings as crossline_settings


@pytest.mark.parametrize("raw", ["maybe", "2", "yes please"])
def test_malformed_boolean_is_refused(monkeypatch, raw):
    monkeypatch.setenv("DJANGO_DEBUG", raw)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG"):
        crossline_settings.env_bool("DJANGO_DEBUG", False)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("off", False), ("", True)])
def test_boolean_values_are_read(monkeypatch, raw, expected):
    monkeypatch.setenv("DJANGO_DEBUG", raw)
    assert crossline_settings.env_bool("DJANGO_DEBUG", True) is expected


def test_malformed_number_is_refused(monkeypatch):
    monkeypatch.setenv("CROSSLINE_MAX_UPLOAD_BYTES", "2GB")
    with pytest.raises(ImproperlyConfigured, match="CROSSLINE_MAX_UPLOAD_BYTES"):
        crossline_settings.env_int("CROSSLINE_MAX_UPLOAD_BYTES", 1)


def test_number_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("CROSSLINE_WORKERS", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        crossline_settings.env_int("CROSSLINE_WORKERS", 1, minimum=1)


def test_allowed_hosts_are_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "crossline.plant.example, localhost")
    assert crossline_settings.env_list("DJANGO_ALLOWED_HOSTS", []) == [
        "crossline.plant.example",
        "localhost",
    ]


def test_mongodb_uri_without_a_database_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="must name the database"):
        crossline_settings.mongodb_database("mongodb://127.0.0.1:27017/")


def test_malformed_mongodb_uri_is_refused():
    with pytest.raises(ImproperlyConfigured, match="not a valid MongoDB URI"):
        crossline_settings.mongodb_database("http://127.0.0.1/crossline")


def test_mongodb_uri_names_the_database():
    uri = "mongodb://db1:27017,db2:27017/plant?replicaSet=rs0"
    assert crossline_settings.mongodb_database(uri) == "plant"


def test_task_timeout_stays_below_retry_and_attempts_are_limited(settings):
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    assert settings.Q_CLUSTER["max_attempts"] == 1
    assert settings.Q_CLUSTER["orm"] == "default"
