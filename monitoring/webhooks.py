"""Webhooks: endpoints, signed deliveries queued through django-q2, retries, the delivery log.

A delivery is one event for one endpoint. Each attempt is a django-q2 task taking the
delivery's id; it claims the attempt by compare-and-set (a task handed out twice sends once),
posts through `monitoring.network` (public addresses only, checked on the connected socket),
and records the answer. Connection errors, 408, 429 and 5xx are retried after
CROSSLINE_WEBHOOK_BACKOFF_SECONDS × 2^(attempt − 1), or the receiver's Retry-After when longer,
at most MAX_ATTEMPTS attempts in all; anything else ends the delivery. The secret is only ever
passed to `signing.sign`: never logged, never stored elsewhere.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from crossline.exceptions import InvalidInput
from monitoring import network, signing
from monitoring.events import jsonable, test_data
from monitoring.models import TEST_EVENT, Event, Notification, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
RETRY_STATUSES = frozenset({408, 429})
MIN_SECRET_LENGTH = 16
ATTEMPT_TASK = "monitoring.tasks.attempt_webhook_delivery"
HEADER_EVENT = "X-Crossline-Event"
HEADER_DELIVERY = "X-Crossline-Delivery"
HEADER_TIMESTAMP = "X-Crossline-Timestamp"
HEADER_SIGNATURE = "X-Crossline-Signature"
Status = WebhookDelivery.Status


# --- endpoints ---------------------------------------------------------------------------------


def generate_secret() -> str:
    """A new random secret (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def check_endpoint_url(url: str) -> str:
    """The URL, if crossline may send to it under today's settings: https (or http where
    allowed), and every address it resolves to public or in the allowed networks."""
    try:
        network.resolve_allowed(
            url,
            allowed_networks=settings.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS,
            allow_http=settings.CROSSLINE_WEBHOOK_ALLOW_HTTP,
        )
    except network.Refused as refused:
        raise InvalidInput(f"Webhook URL refused: {refused}.", field="url") from None
    return url


def check_events(events: Iterable[str]) -> list[str]:
    """The event names, each known, in the order of `Event`."""
    chosen = set(events)
    unknown = sorted(chosen - set(Event.values))
    if unknown:
        raise InvalidInput(f"Unknown event {unknown[0]!r}.", field="events")
    return [event for event in Event.values if event in chosen]


def check_secret(secret: str) -> str:
    """A secret given by the operator: long enough to resist guessing."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise InvalidInput(
            f"The secret needs {MIN_SECRET_LENGTH} characters at least.", field="secret"
        )
    return secret


def create_endpoint(
    *,
    name: str,
    url: str,
    events: Iterable[str],
    secret: str | None = None,
    active: bool = True,
    user: Any = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (generated unless given): the only time it is returned."""
    secret = check_secret(secret) if secret else generate_secret()
    endpoint = WebhookEndpoint.objects.create(
        name=name,
        url=check_endpoint_url(url),
        events=check_events(events),
        secret=secret,
        active=active,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return endpoint, secret


def replace_secret(*, endpoint: WebhookEndpoint, secret: str | None = None) -> str:
    """Give an endpoint a new secret (generated unless given); returned this once."""
    secret = check_secret(secret) if secret else generate_secret()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret, updated_at=timezone.now())
    endpoint.secret = secret
    return secret


# --- deliveries --------------------------------------------------------------------------------


def envelope(event: str, time: datetime, data: dict[str, Any]) -> str:
    """The body every endpoint receives: `{"event", "time", "data"}` as compact JSON."""
    return json.dumps(
        {"event": event, "time": time.isoformat(), "data": jsonable(data)},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def queue_deliveries(*, notification: Notification) -> list[WebhookDelivery]:
    """One delivery, queued, per active endpoint that receives this event."""
    body = envelope(notification.event, notification.created_at, notification.data)
    queued = []
    for endpoint in WebhookEndpoint.objects.filter(active=True):
        if notification.event in (endpoint.events or []):
            queued.append(
                _queue(endpoint, notification.event, body, notification=notification)
            )
    return queued


def send_test_event(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a test event to one endpoint, whatever events it receives."""
    if not endpoint.active:
        raise InvalidInput(f"{endpoint.name} is not active: activate it first.")
    return _queue(endpoint, TEST_EVENT, envelope(TEST_EVENT, timezone.now(), test_data()))


def send_again(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue the same envelope again, as a new delivery with a new id, to its endpoint."""
    endpoint = delivery.endpoint
    if endpoint is None:
        raise InvalidInput(f"The endpoint of delivery {delivery.delivery_id} was deleted.")
    if not endpoint.active:
        raise InvalidInput(f"{endpoint.name} is not active: activate it first.")
    return _queue(endpoint, delivery.event, delivery.body, notification=delivery.notification)


def _queue(
    endpoint: WebhookEndpoint, event: str, body: str, notification: Notification | None = None
) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        url=endpoint.url,
        notification=notification,
        delivery_id=str(uuid.uuid4()),
        event=event,
        body=body,
    )
    _enqueue_attempt(delivery, delay=0)
    return delivery


def _enqueue_attempt(delivery: WebhookDelivery, *, delay: float) -> None:
    """Give the delivery's next attempt a task now, or a one-off schedule after `delay` s."""
    if delay <= 0:
        async_task(ATTEMPT_TASK, str(delivery.pk), task_name=f"webhook-{delivery.delivery_id}")
        return
    schedule(
        ATTEMPT_TASK,
        str(delivery.pk),
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + timedelta(seconds=delay),
    )


def attempt_delivery(delivery_id: Any) -> WebhookDelivery | None:
    """Make the delivery's next attempt and record it; None when there is none to make (it
    finished, or another worker holds this attempt)."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or not _due(delivery):
        return None
    attempt = delivery.attempts + 1
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=delivery.status, attempts=delivery.attempts
    ).update(status=Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=now)
    if claimed != 1:
        return None
    endpoint = delivery.endpoint
    if endpoint is None or not endpoint.active:
        why = "the endpoint was deleted" if endpoint is None else "the endpoint is not active"
        return _finish(delivery, attempt, Status.FAILED, error=why)
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "crossline-webhooks/1",
        HEADER_EVENT: delivery.event,
        HEADER_DELIVERY: delivery.delivery_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: signing.sign(
            endpoint.secret, delivery.delivery_id, timestamp, delivery.body
        ),
    }
    try:
        answer = network.post(
            endpoint.url,
            delivery.body.encode(),
            headers,
            timeout=settings.CROSSLINE_WEBHOOK_TIMEOUT_SECONDS,
            allowed_networks=settings.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS,
            allow_http=settings.CROSSLINE_WEBHOOK_ALLOW_HTTP,
        )
    except network.Refused as refused:
        return _finish(delivery, attempt, Status.FAILED, error=f"refused: {refused}")
    except (OSError, http.client.HTTPException) as error:
        reason = f"connection failed: {type(error).__name__}: {error}"
        return _after_failure(delivery, attempt, error=reason, retry_after=None)
    fields = {
        "response_status": answer.status,
        "response_body": answer.body.decode("utf-8", errors="replace"),
    }
    if 200 <= answer.status < 300:
        return _finish(delivery, attempt, Status.SUCCEEDED, **fields)
    if answer.status in RETRY_STATUSES or answer.status >= 500:
        return _after_failure(
            delivery,
            attempt,
            error=f"answered {answer.status}",
            retry_after=answer.headers.get("retry-after"),
            **fields,
        )
    error = f"answered {answer.status}"
    if 300 <= answer.status < 400:
        error += f" (a redirect to {answer.headers.get('location', '?')!r}: not followed)"
    return _finish(delivery, attempt, Status.FAILED, error=error, **fields)


def _due(delivery: WebhookDelivery) -> bool:
    if delivery.status in (Status.QUEUED, Status.RETRYING):
        return True
    # A worker that died mid-attempt leaves it "sending": once it has surely timed out, the
    # broker's second hand-out of the task may go on.
    stale = timedelta(seconds=settings.CROSSLINE_WEBHOOK_TIMEOUT_SECONDS + 60)
    return (
        delivery.status == Status.SENDING
        and delivery.last_attempt_at is not None
        and timezone.now() - delivery.last_attempt_at > stale
        and delivery.attempts < MAX_ATTEMPTS
    )


def _after_failure(
    delivery: WebhookDelivery, attempt: int, *, error: str, retry_after: str | None, **fields: Any
) -> WebhookDelivery | None:
    if attempt >= MAX_ATTEMPTS:
        return _finish(
            delivery, attempt, Status.FAILED, error=f"{error}; gave up after {attempt} attempts",
            **fields,
        )
    delay = retry_delay(attempt, retry_after)
    updated = _record(
        delivery,
        attempt,
        Status.RETRYING,
        error=error,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        **fields,
    )
    if updated is not None:
        logger.warning(
            "Webhook delivery %s to %s: attempt %d failed (%s); retrying in %.0f s",
            delivery.delivery_id, _where(delivery), attempt, error, delay,
        )
        _enqueue_attempt(updated, delay=delay)
    return updated


def retry_delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds before the next attempt: the backoff doubling from CROSSLINE_WEBHOOK_BACKOFF_SECONDS,
    or the receiver's Retry-After (seconds or an HTTP date) when longer; at most
    CROSSLINE_WEBHOOK_MAX_DELAY_SECONDS."""
    delay = settings.CROSSLINE_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)
    asked = _retry_after_seconds(retry_after)
    if asked is not None:
        delay = max(delay, asked)
    return float(min(delay, settings.CROSSLINE_WEBHOOK_MAX_DELAY_SECONDS))


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _finish(
    delivery: WebhookDelivery, attempt: int, status: str, **fields: Any
) -> WebhookDelivery | None:
    finished = _record(delivery, attempt, status, finished_at=timezone.now(),
                       next_attempt_at=None, **fields)
    if finished is not None:
        log = logger.info if status == Status.SUCCEEDED else logger.warning
        log(
            "Webhook delivery %s (%s) to %s: %s after %d attempt(s)%s",
            delivery.delivery_id, delivery.event, _where(delivery), status, attempt,
            f": {fields['error']}" if fields.get("error") else "",
        )
    return finished


def _record(
    delivery: WebhookDelivery, attempt: int, status: str, **fields: Any
) -> WebhookDelivery | None:
    """Write an attempt's outcome, if this worker still holds the attempt."""
    if "error" in fields:
        fields["error"] = fields["error"][:500]
    fields.setdefault("error", "")
    written = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, attempts=attempt
    ).update(status=status, **fields)
    if written != 1:
        return None
    return WebhookDelivery.objects.get(pk=delivery.pk)


def _where(delivery: WebhookDelivery) -> str:
    name = delivery.endpoint.name if delivery.endpoint is not None else "a deleted endpoint"
    return f"{name} ({delivery.url})"
