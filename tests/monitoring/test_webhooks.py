"""Webhooks end to end against a real HTTP receiver on 127.0.0.1: signed, retried, refused."""

import logging
import re
import socket
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from crossline.exceptions import InvalidInput
from mlmodels import drift, estimation
from mlmodels.models import ModelVersion
from mlmodels.services import activate_model_version
from monitoring import webhooks
from monitoring.events import drift_alarm_data, performance_alarm_data
from monitoring.models import Event, Notification, WebhookDelivery
from monitoring.notifications import notify
from tests.monitoring.conftest import envelope_of, signature_is_valid
from training.models import TrainingRun
from training.runs import announce
from training.signals import model_version_registered, training_run_failed, training_run_succeeded

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status
ALL_EVENTS = list(Event.values)


def endpoint_for(receiver, events=ALL_EVENTS, **kwargs):
    return webhooks.create_endpoint(name="MES", url=receiver.url, events=events, **kwargs)


def drift_alarm() -> dict:
    rng = np.random.default_rng(0)
    reference = drift.build_reference(
        pd.DataFrame({"torque": rng.normal(25, 1, 2000), "angle": rng.normal(45, 3, 2000)}),
        ["2024-01"] * 1000 + ["2024-02"] * 1000,
        importances={"torque": 0.7, "angle": 0.3},
    )
    month = pd.DataFrame({"torque": rng.normal(27, 1, 600), "angle": rng.normal(48, 3, 600)})
    checked = drift.check_month(month, reference)
    assert checked["judgement"]["alarm"]
    return drift_alarm_data(
        kind="group_2", month="2024-03", model_name="group_2-v1", **checked
    )


def performance_alarm() -> dict:
    rng = np.random.default_rng(1)
    scores = rng.random(6000)
    y = (rng.random(6000) < scores).astype(int)
    reference = estimation.build_performance_reference(
        y, scores, 0.5, [f"2024-0{1 + i % 6}" for i in range(6000)]
    )
    estimate = estimation.estimate_month(rng.random(800) ** 0.2, reference)
    assert estimate["alarm"]
    return performance_alarm_data(
        kind="fail", month="2024-03", model_name="fail-v1", estimate=estimate
    )


def test_a_local_receiver_gets_one_correctly_signed_post_per_event(
    local_webhooks, receiver, register, staff_user
):
    endpoint, secret = endpoint_for(receiver)
    finished = TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED, finished_at=timezone.now(),
        metrics={"fail": {"model_name": "fail-v1", "pr_auc": 0.7}},
    )
    failed = TrainingRun.objects.create(
        status=TrainingRun.Status.FAILED, failed_step="train_models", error="ValueError: boom"
    )
    first, second = register(), register()

    announce(training_run_succeeded, finished)
    announce(training_run_failed, failed)
    model_version_registered.send_robust(
        sender=ModelVersion, version=second, run=finished,
        comparison={"last_model": "fail-v1", "message": "fail-v2 is better", "differences": {}},
    )
    activate_model_version(version=first, user=staff_user, reason="first model")
    activate_model_version(version=second, user=staff_user, reason="monthly retrain")
    notify(event=Event.DRIFT_ALARM, data=drift_alarm())
    notify(event=Event.PERFORMANCE_ALARM, data=performance_alarm())

    # Two activations: seven events of six kinds, one POST each.
    assert len(receiver.requests) == 7
    for request in receiver.requests:
        assert signature_is_valid(request, secret)
        assert not signature_is_valid(request, secret + "x")
        assert request.path == "/hooks/crossline"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-crossline-event"] == envelope_of(request)["event"]
    events = [envelope_of(r)["event"] for r in receiver.requests]
    assert sorted(set(events)) == sorted(ALL_EVENTS)
    ids = [r.headers["x-crossline-delivery"] for r in receiver.requests]
    assert len(set(ids)) == 7
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert sorted(d.delivery_id for d in deliveries) == sorted(ids)
    assert {(d.status, d.attempts, d.response_status, d.response_body) for d in deliveries} == {
        (Status.SUCCEEDED, 1, 200, "ok")
    }
    activated = envelope_of(receiver.requests[events.index(Event.VERSION_ACTIVATED, 4)])
    assert activated["data"]["version"]["model_name"] == "fail-v2"
    assert activated["data"]["previous_version"] == "fail-v1"
    assert activated["data"]["activated_by"] == staff_user.username
    assert activated["data"]["reason"] == "monthly retrain"
    failure = envelope_of(receiver.requests[events.index(Event.RUN_FAILED)])
    assert failure["data"]["run"]["failed_step"] == "train_models"
    assert failure["data"]["run"]["error"] == "ValueError: boom"
    registered = envelope_of(receiver.requests[events.index(Event.VERSION_REGISTERED)])
    assert registered["data"]["comparison"]["message"] == "fail-v2 is better"
    alarm = envelope_of(receiver.requests[events.index(Event.DRIFT_ALARM)])
    assert alarm["data"]["kind"] == "group_2" and alarm["data"]["drifted"]
    assert set(envelope_of(receiver.requests[0])) == {"event", "time", "data"}


def test_an_endpoint_gets_only_the_events_it_chose(local_webhooks, receiver):
    endpoint_for(receiver, events=[Event.RUN_FAILED])

    notify(event=Event.DRIFT_ALARM, data={"kind": "fail"})
    notify(event=Event.RUN_FAILED, data={"run": {"id": "7"}})

    assert [envelope_of(r)["event"] for r in receiver.requests] == [Event.RUN_FAILED]


def test_an_inactive_endpoint_gets_nothing(local_webhooks, receiver):
    endpoint, _ = endpoint_for(receiver, active=False)

    notify(event=Event.RUN_FAILED, data={})

    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


def test_a_receiver_answering_503_gets_six_attempts_then_the_delivery_is_failed(
    local_webhooks, receiver
):
    receiver.answer = lambda n: (503, {}, b"maintenance " * 200)
    endpoint, secret = endpoint_for(receiver)

    notify(event=Event.RUN_FAILED, data={"run": {"id": "1"}})

    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS == 6
    # Every attempt is the same delivery, signed afresh.
    assert len({r.headers["x-crossline-delivery"] for r in receiver.requests}) == 1
    assert all(signature_is_valid(r, secret) for r in receiver.requests)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 6
    assert delivery.response_status == 503
    assert delivery.response_body == ("maintenance " * 200)[:1024]
    assert "gave up after 6 attempts" in delivery.error
    assert delivery.finished_at is not None


def test_a_receiver_that_recovers_gets_the_delivery_on_a_later_attempt(local_webhooks, receiver):
    receiver.answer = lambda n: (500, {}, b"") if n < 3 else (204, {}, b"")
    endpoint_for(receiver)

    notify(event=Event.RUN_SUCCEEDED, data={})

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        Status.SUCCEEDED, 3, 204
    )


@pytest.mark.parametrize("status", [408, 429])
def test_timeouts_and_throttling_are_retried(local_webhooks, receiver, status):
    receiver.answer = lambda n: (status, {}, b"") if n == 1 else (200, {}, b"")
    endpoint_for(receiver)

    notify(event=Event.RUN_SUCCEEDED, data={})

    assert WebhookDelivery.objects.get().attempts == 2


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_other_client_errors_are_not_retried(local_webhooks, receiver, status):
    receiver.answer = lambda n: (status, {}, b"no")
    endpoint_for(receiver)

    notify(event=Event.RUN_SUCCEEDED, data={})

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 1)
    assert delivery.error == f"answered {status}"


def test_retry_after_is_honoured_and_the_next_attempt_is_scheduled(local_webhooks, receiver):
    local_webhooks.CROSSLINE_WEBHOOK_BACKOFF_SECONDS = 10
    receiver.answer = lambda n: (429, {"Retry-After": "120"}, b"slow down")
    endpoint_for(receiver)

    notify(event=Event.RUN_SUCCEEDED, data={})

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.RETRYING, 1)
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 119 <= wait <= 122
    planned = Schedule.objects.get(func=webhooks.ATTEMPT_TASK)
    assert planned.schedule_type == Schedule.ONCE
    assert abs((planned.next_run - delivery.next_attempt_at).total_seconds()) < 2
    assert planned.args == repr((str(delivery.pk),))
    # When the schedule's task runs, the receiver (recovered) gets the second attempt.
    receiver.answer = lambda n: (200, {}, b"")
    webhooks.attempt_delivery(delivery.pk)
    assert WebhookDelivery.objects.get().status == Status.SUCCEEDED


def test_the_backoff_doubles_and_is_capped(settings):
    settings.CROSSLINE_WEBHOOK_BACKOFF_SECONDS = 30
    settings.CROSSLINE_WEBHOOK_MAX_DELAY_SECONDS = 3600

    assert [webhooks.retry_delay(a) for a in range(1, 6)] == [30, 60, 120, 240, 480]
    assert webhooks.retry_delay(1, "5") == 30  # shorter than the backoff: the backoff
    assert webhooks.retry_delay(1, "90") == 90
    assert webhooks.retry_delay(1, "86400") == 3600
    later = timezone.now() + timedelta(seconds=600)
    http_date = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 595 <= webhooks.retry_delay(1, http_date) <= 601
    assert webhooks.retry_delay(2, "soon") == 60


def test_a_redirect_is_not_followed(local_webhooks, receiver, second_receiver):
    receiver.answer = lambda n: (307, {"Location": second_receiver.url}, b"")
    endpoint_for(receiver)

    notify(event=Event.RUN_SUCCEEDED, data={})

    assert second_receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        Status.FAILED, 1, 307
    )
    assert "not followed" in delivery.error


def test_a_connection_error_is_retried_then_fails(local_webhooks):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    webhooks.create_endpoint(
        name="gone", url=f"http://127.0.0.1:{port}/x", events=[Event.RUN_FAILED]
    )

    notify(event=Event.RUN_FAILED, data={})

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 6)
    assert delivery.error.startswith("connection failed: ConnectionRefusedError")


def test_an_endpoint_on_loopback_is_refused_unless_the_operator_allows_it(
    local_webhooks, receiver
):
    local_webhooks.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(InvalidInput, match="127.0.0.1, which is not a public address"):
        endpoint_for(receiver)

    local_webhooks.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    endpoint_for(receiver)
    # The operator takes the permission back: the next delivery is refused on connecting.
    local_webhooks.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    notify(event=Event.RUN_FAILED, data={})

    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 1)
    assert delivery.error.startswith("refused: connected to 127.0.0.1")


def test_http_is_refused_unless_allowed(local_webhooks, receiver):
    local_webhooks.CROSSLINE_WEBHOOK_ALLOW_HTTP = False

    with pytest.raises(InvalidInput, match="only https"):
        endpoint_for(receiver)


def test_a_name_rebound_to_loopback_after_it_was_saved_is_refused_on_connecting(
    local_webhooks, receiver, monkeypatch
):
    local_webhooks.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = []
    port = receiver.server.server_address[1]
    real_getaddrinfo = socket.getaddrinfo
    answers = {"address": "93.184.215.14"}  # public when the endpoint is saved

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host == "hooks.plant.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["address"], port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    webhooks.create_endpoint(
        name="MES", url=f"http://hooks.plant.example:{port}/in", events=[Event.RUN_FAILED]
    )
    answers["address"] = "127.0.0.1"  # then the name points at the host itself

    notify(event=Event.RUN_FAILED, data={})

    assert receiver.requests == []  # connected, refused before a byte was sent
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 1)
    assert "connected to 127.0.0.1" in delivery.error and "rebound" in delivery.error


@pytest.fixture
def queries_logged():
    """Every query through Django's debug cursor, as with DEBUG on."""
    with CaptureQueriesContext(connection) as queries:
        yield queries


def test_the_secret_never_appears_in_logs(
    local_webhooks, receiver, caplog, capsys, queries_logged
):
    caplog.set_level(logging.DEBUG)
    answers = iter([(503, {}, b"down"), (200, {}, b"ok")] + [(500, {}, b"err")] * 6)
    receiver.answer = lambda n: next(answers)
    secret = "s3cret-" + "k" * 30
    endpoint_for(receiver, secret=secret)

    notify(event=Event.RUN_FAILED, data={"run": {"id": "1"}})  # retried, then delivered
    notify(event=Event.RUN_SUCCEEDED, data={})  # six failures
    local_webhooks.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = []
    notify(event=Event.RUN_FAILED, data={})  # refused on connecting

    statuses = sorted(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == [Status.FAILED, Status.FAILED, Status.SUCCEEDED]
    assert "Webhook delivery" in caplog.text  # the deliveries were logged…
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert secret not in text  # …without their secret
        assert secret[-8:] not in text
    for delivery in WebhookDelivery.objects.all():
        assert secret not in f"{delivery.body}{delivery.error}{delivery.response_body}"
    assert secret not in repr(WebhookDelivery.objects.first().endpoint)
    assert secret not in str(Notification.objects.first().data)


def test_an_attempt_held_by_another_worker_is_not_made_twice(local_webhooks, receiver):
    endpoint, _ = endpoint_for(receiver)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, url=endpoint.url, delivery_id="d-1", event=Event.RUN_FAILED,
        body="{}", status=Status.SENDING, attempts=1, last_attempt_at=timezone.now(),
    )

    assert webhooks.attempt_delivery(delivery.pk) is None
    assert receiver.requests == []
    # Long after the worker must have died, the broker's second hand-out may go on.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        last_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    assert webhooks.attempt_delivery(delivery.pk).status == Status.SUCCEEDED
    assert len(receiver.requests) == 1


def test_send_again_queues_a_new_delivery_of_the_same_envelope(local_webhooks, receiver):
    receiver.answer = lambda n: (400, {}, b"") if n == 1 else (200, {}, b"")
    endpoint_for(receiver)
    notify(event=Event.RUN_FAILED, data={"run": {"id": "3"}})
    failed = WebhookDelivery.objects.get()

    again = webhooks.send_again(delivery=failed)

    again.refresh_from_db()
    assert again.status == Status.SUCCEEDED
    assert again.delivery_id != failed.delivery_id
    assert receiver.requests[1].body == receiver.requests[0].body == failed.body


def test_a_test_event_goes_to_the_endpoint_whatever_it_subscribed(local_webhooks, receiver):
    endpoint, secret = endpoint_for(receiver, events=[Event.DRIFT_ALARM])

    webhooks.send_test_event(endpoint=endpoint)

    (request,) = receiver.requests
    assert envelope_of(request)["event"] == "test"
    assert signature_is_valid(request, secret)


def test_secrets_are_generated_long_or_refused_short(local_webhooks, receiver):
    endpoint, secret = endpoint_for(receiver)

    assert len(secret) >= 40 and endpoint.secret == secret
    assert endpoint.secret_hint == f"…{secret[-4:]}"
    with pytest.raises(InvalidInput, match="16 characters"):
        webhooks.create_endpoint(name="b", url=receiver.url, events=[], secret="short")
    with pytest.raises(InvalidInput, match="Unknown event"):
        webhooks.create_endpoint(name="c", url=receiver.url, events=["model.deleted"])


def test_the_documented_receiver_check_accepts_a_delivery_and_refuses_its_replay(
    local_webhooks, receiver, monkeypatch
):
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    documented: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), documented)
    verify = documented["verify_crossline_delivery"]
    endpoint, secret = endpoint_for(receiver)
    webhooks.send_test_event(endpoint=endpoint)
    (request,) = receiver.requests
    headers = {
        name: request.headers[name.lower()]
        for name in ("X-Crossline-Delivery", "X-Crossline-Timestamp", "X-Crossline-Signature")
    }
    body = request.body.encode()

    assert verify(secret, headers, body)
    assert not verify("another-secret-of-some-length", headers, body)
    assert not verify(secret, headers, body.replace(b"test", b"tost"))
    later = time.time() + 301
    monkeypatch.setattr(documented["time"], "time", lambda: later)
    assert not verify(secret, headers, body)
