"""django-q2 entry points of monitoring: each takes ids (or nothing) and calls a service."""

from typing import Any

from crossline.schedules import claim_period
from monitoring import checks, notifications, webhooks

CHECK_SCHEDULE = "check production months"


def attempt_webhook_delivery(delivery_id: Any) -> str:
    """One attempt of a webhook delivery; its status afterwards."""
    delivery = webhooks.attempt_delivery(delivery_id)
    return delivery.status if delivery is not None else "nothing to attempt"


def send_notification_email(notification_id: Any) -> int:
    """E-mail a notification to its subscribers; how many messages were sent."""
    return notifications.send_notification_email(notification_id)


def check_production_months(intended: str | None = None, kinds: list[str] | None = None) -> str:
    """Check the due production months against the active versions (of `kinds`).

    As a schedule, `intended` is the period's run time: only the first copy of a period that
    several worker clusters queued checks (a second would only repeat the same checks).
    """
    if intended and not claim_period(CHECK_SCHEDULE, intended):
        return f"period {intended}: checked by another copy"
    written = checks.check_months(kinds=kinds)
    months = sorted({check.month for check in written})
    return f"{len(written)} checks written" + (f" ({', '.join(months)})" if months else "")
