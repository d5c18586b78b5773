import os
import secrets
import subprocess
import sys
from pathlib import Path

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


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_environment(tmp_path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CROSSLINE_"))
    }
    env.update(CROSSLINE_VAR_DIR=str(tmp_path), DJANGO_DEBUG="0", **extra)
    return env


def test_debug_off_without_a_secret_key_refuses_to_start(tmp_path):
    done = run_manage("check", env=production_environment(tmp_path))
    assert done.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off" in (
        done.stderr
    )


def test_the_key_make_run_keeps_in_var_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY")
    monkeypatch.setattr(crossline_settings, "VAR_DIR", tmp_path)
    with pytest.raises(ImproperlyConfigured):
        crossline_settings.secret_key(False)
    (tmp_path / "secret-key.txt").write_text("a-key-kept-by-make-run\n")
    assert crossline_settings.secret_key(False) == "a-key-kept-by-make-run"
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-environment")
    assert crossline_settings.secret_key(False) == "from-the-environment"


def test_development_may_do_without_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY")
    monkeypatch.setattr(crossline_settings, "VAR_DIR", tmp_path)
    assert "insecure-development" in crossline_settings.secret_key(True)


# Security checks only: drf-spectacular's schema warnings are not deployment settings.
DEPLOY_CHECK = ("check", "--deploy", "--tag", "security", "--fail-level", "WARNING")


def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    production = production_environment(
        tmp_path,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="crossline.plant.example",
        CROSSLINE_HTTPS="1",
    )
    done = run_manage(*DEPLOY_CHECK, env=production)
    assert done.returncode == 0, done.stderr
    # Without the HTTPS switch the same check names what is missing.
    del production["CROSSLINE_HTTPS"]
    done = run_manage(*DEPLOY_CHECK, env=production)
    assert done.returncode != 0
    assert "security.W004" in done.stderr and "security.W012" in done.stderr


# --- MongoDB: a replica set's options reach pymongo ---------------------------------------------

REPLICA_SET_URI = (
    "mongodb://db1:27017,db2:27017,db3:27017/crossline"
    "?replicaSet=rs0&retryWrites=true&w=majority&readConcernLevel=majority"
)


def client_for(databases: dict, alias: str):
    """The MongoClient crossline's engine would open for an alias (not connected)."""
    from pymongo import MongoClient

    from crossline.mongodb.base import DatabaseWrapper

    params = DatabaseWrapper(databases[alias], alias).get_connection_params()
    return MongoClient(**params, connect=False)


def test_replica_set_options_in_the_uri_reach_pymongo():
    databases = crossline_settings.mongodb_databases(
        REPLICA_SET_URI, statistics_read_preference="secondaryPreferred"
    )
    assert databases["default"]["ENGINE"] == "crossline.mongodb"
    assert databases["default"]["NAME"] == "crossline"
    client = client_for(databases, "default")
    try:
        assert client.options.replica_set_name == "rs0"
        assert client.options.retry_writes is True
        assert client.write_concern.document == {"w": "majority"}
        assert client.read_concern.level == "majority"
        assert client.read_preference.mongos_mode == "primary"
        # A replica set gets time to elect a new primary before a write gives up.
        assert client.options.server_selection_timeout == 30
    finally:
        client.close()
    statistics = client_for(databases, "statistics")
    try:
        assert statistics.read_preference.mongos_mode == "secondaryPreferred"
        assert statistics.options.replica_set_name == "rs0"
        assert statistics.write_concern.document == {"w": "majority"}
    finally:
        statistics.close()
    assert databases["statistics"]["TEST"] == {"MIRROR": "default"}


def test_statistics_read_the_default_database_unless_told_otherwise():
    databases = crossline_settings.mongodb_databases(REPLICA_SET_URI)
    assert set(databases) == {"default"}


def test_a_server_selection_timeout_in_the_uri_wins_and_one_server_fails_fast():
    uri = REPLICA_SET_URI + "&serverSelectionTimeoutMS=12000"
    given = crossline_settings.mongodb_databases(uri)
    client = client_for(given, "default")
    try:
        assert client.options.server_selection_timeout == 12
    finally:
        client.close()
    single = crossline_settings.mongodb_databases("mongodb://db1:27017/crossline")
    assert single["default"]["OPTIONS"] == {"serverSelectionTimeoutMS": 5000}


def test_a_uri_reading_from_secondaries_is_refused():
    with pytest.raises(ImproperlyConfigured, match="CROSSLINE_STATISTICS_READ_PREFERENCE"):
        crossline_settings.mongodb_databases(REPLICA_SET_URI + "&readPreference=secondary")


def test_an_unknown_statistics_read_preference_is_refused():
    with pytest.raises(ImproperlyConfigured, match="CROSSLINE_STATISTICS_READ_PREFERENCE"):
        crossline_settings.mongodb_databases(
            REPLICA_SET_URI, statistics_read_preference="secondaries"
        )


def test_webhook_networks_are_read_and_a_malformed_one_is_refused(monkeypatch):
    monkeypatch.setenv("CROSSLINE_WEBHOOK_ALLOWED_NETWORKS", "10.20.0.0/16, 192.168.7.9,fd00::/8")
    assert crossline_settings.env_networks("CROSSLINE_WEBHOOK_ALLOWED_NETWORKS") == [
        "10.20.0.0/16", "192.168.7.9/32", "fd00::/8"
    ]
    monkeypatch.setenv("CROSSLINE_WEBHOOK_ALLOWED_NETWORKS", "10.20.0.0/16,the-mes")
    with pytest.raises(ImproperlyConfigured, match="'the-mes' is not an IP network"):
        crossline_settings.env_networks("CROSSLINE_WEBHOOK_ALLOWED_NETWORKS")


def test_e_mail_goes_to_the_console_unless_smtp_is_configured(monkeypatch):
    monkeypatch.delenv("CROSSLINE_EMAIL_BACKEND", raising=False)
    assert crossline_settings.mailer("CROSSLINE_EMAIL_BACKEND") == {
        "BACKEND": "django.core.mail.backends.console.EmailBackend"
    }
    monkeypatch.setenv("CROSSLINE_EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("CROSSLINE_EMAIL_HOST", "mail.plant.example")
    monkeypatch.setenv("CROSSLINE_EMAIL_PORT", "587")
    monkeypatch.setenv("CROSSLINE_EMAIL_USE_TLS", "1")
    smtp = crossline_settings.mailer("CROSSLINE_EMAIL_BACKEND")
    assert smtp["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert smtp["OPTIONS"]["host"] == "mail.plant.example"
    assert (smtp["OPTIONS"]["port"], smtp["OPTIONS"]["use_tls"]) == (587, True)
    monkeypatch.setenv("CROSSLINE_EMAIL_USE_SSL", "1")
    with pytest.raises(ImproperlyConfigured, match="exclusive"):
        crossline_settings.mailer("CROSSLINE_EMAIL_BACKEND")
    monkeypatch.setenv("CROSSLINE_EMAIL_BACKEND", "sendmail")
    with pytest.raises(ImproperlyConfigured, match="use console or smtp"):
        crossline_settings.mailer("CROSSLINE_EMAIL_BACKEND")


def test_the_labelling_window_falls_back_to_the_earlier_feedback_window(monkeypatch):
    monkeypatch.delenv("CROSSLINE_LABEL_WINDOW_DAYS", raising=False)
    monkeypatch.delenv("CROSSLINE_FEEDBACK_WINDOW_DAYS", raising=False)
    assert crossline_settings.label_window_days() == 14
    monkeypatch.setenv("CROSSLINE_FEEDBACK_WINDOW_DAYS", "30")
    assert crossline_settings.label_window_days() == 30
    # Its 0 meant "never closes": the default applies instead.
    monkeypatch.setenv("CROSSLINE_FEEDBACK_WINDOW_DAYS", "0")
    assert crossline_settings.label_window_days() == 14
    monkeypatch.setenv("CROSSLINE_LABEL_WINDOW_DAYS", "0")
    assert crossline_settings.label_window_days() == 0
    monkeypatch.setenv("CROSSLINE_LABEL_WINDOW_DAYS", "-1")
    with pytest.raises(ImproperlyConfigured, match="CROSSLINE_LABEL_WINDOW_DAYS"):
        crossline_settings.label_window_days()
