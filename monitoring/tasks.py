"""django-q2 entry points of notifications: each takes an id and calls a service."""

from typing import Any

from monitoring import notifications, webhooks


def attempt_webhook_delivery(delivery_id: Any) -> str:
    """One attempt of a webhook delivery; its status afterwards."""
    delivery = webhooks.attempt_delivery(delivery_id)
    return delivery.status if delivery is not None else "nothing to attempt"


def send_notification_email(notification_id: Any) -> int:
    """E-mail a notification to its subscribers; how many messages were sent."""
    return notifications.send_notification_email(notification_id)
