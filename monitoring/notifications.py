"""Telling people: an event is recorded once, e-mailed to its subscribers and sent to the
webhook endpoints that receive it, both through django-q2 so that the sender never waits."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, mailers
from django_q.tasks import async_task

from monitoring.events import jsonable, subject
from monitoring.models import Event, Notification, Subscription
from monitoring.webhooks import check_events, queue_deliveries

logger = logging.getLogger(__name__)

EMAIL_TASK = "monitoring.tasks.send_notification_email"


def notify(*, event: str, data: dict[str, Any]) -> Notification:
    """Record an event and queue its e-mail and webhook deliveries."""
    notification = Notification.objects.create(event=Event(event), data=jsonable(data))
    queue_deliveries(notification=notification)
    if list_recipients(notification.event):
        async_task(EMAIL_TASK, str(notification.pk), task_name=f"notify-{notification.pk}")
    return notification


def list_recipients(event: str) -> list[str]:
    """The e-mail addresses of the active staff users subscribed to `event`."""
    subscribed = [s.user_id for s in Subscription.objects.all() if event in (s.events or [])]
    # Two plain queries, no join: a handful of rows, and MongoDB answers them alike.
    users = get_user_model().objects.filter(pk__in=subscribed, is_active=True, is_staff=True)
    return sorted({user.email for user in users if user.email})


def send_notification_email(notification_id: Any) -> int:
    """E-mail a recorded event to its subscribers, one message each; how many were sent."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:
        return 0
    recipients = list_recipients(notification.event)
    if not recipients:
        return 0
    title = settings.EMAIL_SUBJECT_PREFIX + subject(notification.event, notification.data)
    body = email_body(notification)
    # One message per person: subscribers do not learn each other's addresses.
    messages = [
        EmailMessage(title, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in recipients
    ]
    sent = mailers.default.send_messages(messages) or 0
    Notification.objects.filter(pk=notification.pk).update(emailed_to=sent)
    logger.info("Notification %s (%s) e-mailed to %d", notification.pk, notification.event, sent)
    return sent


def email_body(notification: Notification) -> str:
    """The e-mail's text: the event, when, and its details."""
    return (
        f"{subject(notification.event, notification.data)}\n"
        f"Event: {notification.event}, at {notification.created_at:%Y-%m-%d %H:%M:%S %Z}\n\n"
        f"{json.dumps(notification.data, indent=2, ensure_ascii=False)}\n\n"
        "You receive this because you subscribed to it in crossline's admin "
        "(Monitoring › Subscriptions).\n"
    )


def set_subscription(*, user: Any, events: Iterable[str]) -> Subscription:
    """The events `user` receives by e-mail from now on."""
    subscription, _ = Subscription.objects.update_or_create(
        user=user, defaults={"events": check_events(events)}
    )
    return subscription
