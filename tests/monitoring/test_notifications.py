"""Notifications: the lower apps' signals become events; subscribers get them by e-mail."""


import pytest
from django.core import mail

from mlmodels.services import activate_model_version
from monitoring.models import Event, Notification
from monitoring.notifications import notify, set_subscription
from training.models import TrainingRun
from training.runs import announce
from training.signals import training_run_failed

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(django_user_model):
    """Staff who want failures, staff who want drift, and some who cannot receive anything."""

    def user(name, *, email=True, staff=True, active=True, events=(Event.RUN_FAILED,)):
        person = django_user_model.objects.create_user(
            username=name, email=f"{name}@plant.example" if email else "",
            is_staff=staff, is_active=active,
        )
        set_subscription(user=person, events=events)
        return person

    return {
        "lead": user("lead"),
        "planner": user("planner", events=(Event.RUN_FAILED, Event.DRIFT_ALARM)),
        "analyst": user("analyst", events=(Event.DRIFT_ALARM,)),
        "viewer": user("viewer", staff=False),
        "no-address": user("no-address", email=False),
        "gone": user("gone", active=False),
    }


def test_subscribed_staff_get_one_e_mail_each(sync_tasks, people):
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.FAILED, failed_step="train_models", error="MemoryError: "
    )

    announce(training_run_failed, run)

    assert sorted(m.to[0] for m in mail.outbox) == [
        "lead@plant.example", "planner@plant.example"
    ]
    assert all(len(m.to) == 1 and not m.cc and not m.bcc for m in mail.outbox)
    message = mail.outbox[0]
    assert message.subject == f"[crossline] Training run {run.pk} failed in step train_models"
    assert "MemoryError" in message.body
    notification = Notification.objects.get()
    assert (notification.event, notification.emailed_to) == (Event.RUN_FAILED, 2)


def test_an_event_nobody_subscribed_to_sends_no_e_mail(sync_tasks, people):
    notify(event=Event.PERFORMANCE_ALARM, data={"kind": "fail", "month": "2024-05"})

    assert mail.outbox == []
    assert Notification.objects.get().emailed_to == 0


def test_an_activation_is_told_with_who_why_and_the_version_it_replaced(
    sync_tasks, register, lead_user
):
    first, second = register(), register()
    activate_model_version(version=first, user=lead_user, reason="first")

    activate_model_version(version=second, user=lead_user, reason="better recall in May")

    told = Notification.objects.filter(event=Event.VERSION_ACTIVATED).order_by("created_at")
    assert [n.data["version"]["model_name"] for n in told] == ["fail-v1", "fail-v2"]
    data = told.last().data
    assert data["previous_version"] == "fail-v1"
    assert data["activated_by"] == "quality-lead"
    assert data["reason"] == "better recall in May"
    assert data["sequence"] == 2


def test_a_failure_to_notify_never_fails_the_activation(
    sync_tasks, register, staff_user, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("the notification store is down")

    monkeypatch.setattr("monitoring.receivers.notify", broken)
    version = register()

    activation = activate_model_version(version=version, user=staff_user, reason="go")

    assert activation.version == version
    assert "Could not record or queue the model_version.activated notification" in caplog.text
    assert not Notification.objects.exists()


def test_unknown_events_are_refused():
    with pytest.raises(ValueError):
        notify(event="model.deleted", data={})
