"""Notifications: the events crossline tells people about, who subscribes, where webhooks go
and what became of each delivery."""

from django.conf import settings
from django.db import models


class Event(models.TextChoices):
    """What crossline notifies; webhook receivers see these names in the envelope."""

    RUN_SUCCEEDED = "training_run.succeeded", "Training run succeeded"
    RUN_FAILED = "training_run.failed", "Training run failed"
    VERSION_REGISTERED = "model_version.registered", "Model version registered"
    VERSION_ACTIVATED = "model_version.activated", "Model version set as active"
    DRIFT_ALARM = "drift.alarm", "Drift alarm"
    PERFORMANCE_ALARM = "performance.alarm", "Performance alarm"


# Sent only by "send a test event", to the endpoints chosen; nobody subscribes to it.
TEST_EVENT = "test"


class Notification(models.Model):
    """One event as it was told: to the subscribers by e-mail, to the endpoints by webhook."""

    event = models.CharField(max_length=40, choices=Event.choices, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    data = models.JSONField(default=dict, help_text="The event's details, as webhooks send them.")
    emailed_to = models.PositiveIntegerField(
        default=0, help_text="Subscribers the e-mail went to."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_event_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class Subscription(models.Model):
    """The events one staff user wants by e-mail (at the address of their user)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_subscription"
    )
    events = models.JSONField(default=list, help_text="Event names, e.g. “training_run.failed”.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"notifications of {self.user}"


class WebhookEndpoint(models.Model):
    """A plant system that receives events as signed POSTs."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(
        "URL", max_length=500, help_text="https (http only where the operator allows it)."
    )
    events = models.JSONField(default=list, help_text="Event names the endpoint receives.")
    # Set once when the endpoint is made (or replaced); shown back only by its last 4
    # characters. Stored as is: the signature needs it.
    secret = models.CharField(max_length=200, editable=False)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Never the secret, in a traceback or a debugger.
        return f"<WebhookEndpoint {self.pk}: {self.name}>"

    @property
    def secret_hint(self) -> str:
        """The secret as it may be shown: its last 4 characters."""
        return f"…{self.secret[-4:]}" if self.secret else ""


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, attempt after attempt: the delivery log."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    url = models.CharField("URL", max_length=500, help_text="Where it was sent.")
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    delivery_id = models.CharField(max_length=36, unique=True)
    event = models.CharField(max_length=40, db_index=True)
    body = models.TextField(help_text="The JSON envelope, exactly as signed and sent.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first kilobyte of the answer.")
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.url} ({self.status})"
