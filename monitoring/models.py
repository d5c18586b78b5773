"""Monitoring: production months checked against the active models, and their alarms; the events
crossline tells people about, who subscribes, where webhooks go and what became of each delivery.
"""

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


class Verdict(models.TextChoices):
    """A month's verdict on one signal."""

    TOO_FEW = "too_few", "Too few vehicles to judge"
    NO_ALARM = "no_alarm", "No alarm"
    ALARM = "alarm", "Alarm"
    TRAINING = "training", "Trained on this month: not estimated"
    NO_REFERENCE = "no_reference", "No reference to estimate from"


class MonthSummary(models.Model):
    """A production month's feature rows counted into a drift reference's bins
    (`mlmodels.drift.summarise`): what the column charts draw against the reference."""

    reference = models.ForeignKey(
        "mlmodels.DriftReference", on_delete=models.CASCADE, related_name="month_summaries"
    )
    month = models.CharField(max_length=7, help_text="Production month, YYYY-MM.")
    vehicles = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["month"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "month"], name="one_summary_per_month")
        ]

    def __str__(self) -> str:
        return f"{self.month}: {self.vehicles:,} vehicles"


class MonthCheck(models.Model):
    """One production month against one model version: its input drift, its estimated precision,
    recall and flagged share, and the realised ones once the month's labelling window closed."""

    type_model = models.CharField(max_length=40, db_index=True)
    version = models.ForeignKey(
        "mlmodels.ModelVersion", null=True, on_delete=models.SET_NULL, related_name="month_checks"
    )
    model_name = models.CharField(max_length=100)
    month = models.CharField(max_length=7, help_text="Production month, YYYY-MM.")
    vehicles = models.PositiveIntegerField(default=0)
    trained_on = models.BooleanField(
        default=False, help_text="The version learned from vehicles of this month."
    )
    drift = models.CharField(max_length=12, choices=Verdict.choices, default=Verdict.TOO_FEW)
    drifted_share = models.FloatField(
        null=True, help_text="Share of the columns the model relies on most that drifted."
    )
    considered = models.JSONField(default=list, help_text="The columns the alarm counts.")
    drifted = models.JSONField(default=list, help_text="Those of them that drifted.")
    rule = models.CharField(max_length=255, blank=True)
    columns = models.JSONField(
        default=dict, help_text="Per column: score, threshold, missing shares, drifted or not."
    )
    performance = models.CharField(
        max_length=12, choices=Verdict.choices, default=Verdict.TOO_FEW
    )
    threshold = models.FloatField(null=True, help_text="The version's threshold when checked.")
    estimate = models.JSONField(
        null=True, blank=True, help_text="Estimated precision, recall and flagged share."
    )
    band = models.JSONField(null=True, blank=True, help_text="Per metric: lower, upper, mean.")
    outside_band = models.JSONField(default=list, blank=True)
    window_closed = models.BooleanField(
        default=False, help_text="Every vehicle of the month is past its labelling window."
    )
    realised = models.JSONField(
        null=True, blank=True, help_text="Realised metrics, once the labelling window closed."
    )
    difference = models.JSONField(
        null=True, blank=True, help_text="Realised minus estimated, per metric."
    )
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["type_model", "month"]
        constraints = [
            models.UniqueConstraint(fields=["model_name", "month"], name="one_check_per_month")
        ]

    def __str__(self) -> str:
        return f"{self.model_name}, {self.month}"


class Alarm(models.Model):
    """A drift or performance alarm of a kind for a production month: raised once, told once,
    open until someone closes it."""

    class Signal(models.TextChoices):
        DRIFT = "drift", "Input drift"
        PERFORMANCE = "performance", "Estimated performance"

    signal = models.CharField(max_length=12, choices=Signal.choices)
    type_model = models.CharField(max_length=40)
    month = models.CharField(max_length=7)
    model_name = models.CharField(max_length=100, help_text="The version checked.")
    month_check = models.ForeignKey(
        MonthCheck, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_at = models.DateTimeField()
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why it was closed.")

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["signal", "type_model", "month"], name="one_alarm_per_kind_and_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_signal_display()} alarm: {self.type_model}, {self.month}"
