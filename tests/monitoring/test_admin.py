"""The notifications admin: one's own subscription, endpoints whose secret shows once, the log."""

import re

import pytest
from django.contrib.messages import get_messages

from monitoring import webhooks
from monitoring.models import Event, Subscription, WebhookDelivery, WebhookEndpoint
from monitoring.notifications import set_subscription
from tests.monitoring.conftest import signature_is_valid

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/admin/monitoring/subscription/"
ENDPOINTS = "/admin/monitoring/webhookendpoint/"
DELIVERIES = "/admin/monitoring/webhookdelivery/"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_a_staff_user_chooses_their_own_e_mails(staff_client, staff_user):
    response = staff_client.post(
        f"{SUBSCRIPTIONS}add/", {"events": [Event.RUN_FAILED, Event.DRIFT_ALARM]}
    )

    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.user == staff_user
    assert subscription.events == [Event.RUN_FAILED, Event.DRIFT_ALARM]
    # One subscription each: the add button is gone, the change form edits it.
    assert staff_client.get(f"{SUBSCRIPTIONS}add/").status_code == 403
    staff_client.post(f"{SUBSCRIPTIONS}{subscription.pk}/change/", {"events": [Event.RUN_FAILED]})
    subscription.refresh_from_db()
    assert subscription.events == [Event.RUN_FAILED]


def test_a_staff_user_sees_no_one_else_s_subscription(staff_client, django_user_model):
    other = django_user_model.objects.create_user(
        "planner", email="planner@plant.example", is_staff=True
    )
    theirs = set_subscription(user=other, events=[Event.RUN_FAILED])

    listing = staff_client.get(SUBSCRIPTIONS)
    page = staff_client.get(f"{SUBSCRIPTIONS}{theirs.pk}/change/")
    changed = staff_client.post(f"{SUBSCRIPTIONS}{theirs.pk}/change/", {"events": []})

    assert listing.status_code == 200
    assert "planner" not in listing.content.decode()
    assert page.status_code == 302  # "does not exist" for this user
    assert changed.status_code == 302
    theirs.refresh_from_db()
    assert theirs.events == [Event.RUN_FAILED]


def test_a_user_who_is_not_staff_has_no_subscription_page(client, plain_user):
    client.force_login(plain_user)

    assert client.get(SUBSCRIPTIONS).status_code == 302  # to the admin's log-in


def test_staff_without_the_permission_cannot_see_webhook_endpoints(staff_client):
    assert staff_client.get(ENDPOINTS).status_code == 403
    assert staff_client.get(DELIVERIES).status_code == 403


def test_a_new_endpoint_s_generated_secret_is_shown_once_then_only_its_end(
    admin_user_client, local_webhooks, receiver
):
    response = admin_user_client.post(
        f"{ENDPOINTS}add/",
        {"name": "MES", "url": receiver.url, "events": [Event.VERSION_ACTIVATED],
         "active": "on", "new_secret": ""},
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get()
    assert response.redirect_chain == [(ENDPOINTS, 302)]
    assert f"The secret of MES is {endpoint.secret} — copy it" in response.content.decode()
    assert endpoint.events == [Event.VERSION_ACTIVATED]
    assert len(endpoint.secret) >= 40
    change_page = admin_user_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    listing = admin_user_client.get(ENDPOINTS).content.decode()
    for page in (change_page, listing):
        assert endpoint.secret not in page
        assert endpoint.secret[:-4] not in page
        assert f"…{endpoint.secret[-4:]}" in page


def test_saving_an_endpoint_without_a_new_secret_keeps_it_and_a_new_one_replaces_it(
    admin_user_client, local_webhooks, receiver
):
    endpoint, secret = webhooks.create_endpoint(
        name="MES", url=receiver.url, events=[Event.RUN_FAILED]
    )
    form = {"name": "MES", "url": receiver.url, "events": [Event.RUN_FAILED], "active": "on"}

    admin_user_client.post(f"{ENDPOINTS}{endpoint.pk}/change/", {**form, "new_secret": ""})
    endpoint.refresh_from_db()
    assert endpoint.secret == secret
    response = admin_user_client.post(
        f"{ENDPOINTS}{endpoint.pk}/change/", {**form, "new_secret": "a-new-secret-from-the-mes"}
    )
    endpoint.refresh_from_db()
    assert endpoint.secret == "a-new-secret-from-the-mes"
    assert "a-new-secret" not in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_an_endpoint_the_settings_do_not_allow_is_refused_in_the_form(
    admin_user_client, local_webhooks, receiver
):
    local_webhooks.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = []

    response = admin_user_client.post(
        f"{ENDPOINTS}add/",
        {"name": "MES", "url": receiver.url, "events": [Event.RUN_FAILED], "new_secret": ""},
    )

    assert response.status_code == 200
    assert "not a public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_send_a_test_event_and_send_again_from_the_admin(
    admin_user_client, local_webhooks, receiver
):
    receiver.answer = lambda n: (503, {}, b"busy") if n <= 6 else (200, {}, b"ok")
    endpoint, secret = webhooks.create_endpoint(
        name="MES", url=receiver.url, events=[Event.RUN_FAILED]
    )

    admin_user_client.post(
        ENDPOINTS, {"action": "send_test_event", "_selected_action": [str(endpoint.pk)]}
    )
    failed = WebhookDelivery.objects.get()
    assert (failed.event, failed.status, failed.attempts) == ("test", "failed", 6)
    log = admin_user_client.get(DELIVERIES).content.decode()
    assert "Failed" in log and "MES" in log
    detail = admin_user_client.get(f"{DELIVERIES}{failed.pk}/change/").content.decode()
    assert "busy" in detail and secret not in detail

    response = admin_user_client.post(
        DELIVERIES, {"action": "send_again", "_selected_action": [str(failed.pk)]}, follow=True
    )

    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert again.status == "succeeded"
    assert re.search(r"queued again as delivery [0-9a-f-]{36}", response.content.decode())
    assert signature_is_valid(receiver.requests[-1], secret)
    assert receiver.requests[-1].body == failed.body


@pytest.mark.django_db
def test_the_dashboards_open_alarms_name_the_fail_group(admin_client):
    from django.utils import timezone

    from monitoring.models import Alarm
    from plant.models import FailGroup

    FailGroup.objects.update_or_create(code=9830946, defaults={"name": "Electrical"})
    Alarm.objects.create(signal=Alarm.Signal.DRIFT, type_model="group_9830946", month="2024-07",
                         model_name="group_9830946-v1", raised_at=timezone.now())

    page = admin_client.get("/admin/").content.decode()

    assert "9830946 Electrical, 2024-07" in page and ": group_9830946," not in page
