"""Admin of monitoring: the drift and performance page, alarms; one's own e-mail subscription,
webhook endpoints, the delivery log."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from crossline import dashboard
from crossline.domain import kind_label
from crossline.exceptions import CrosslineError
from monitoring import notifications, webhooks
from monitoring.alarms import close_alarms
from monitoring.models import (
    Alarm,
    Event,
    MonthCheck,
    Notification,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)
from monitoring.pages import monitoring_context
from monitoring.selectors import list_open_alarms
from plant.admin_fail_groups import fail_group_labels_for


def _events_field(help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=help_text,
    )


def _event_labels(events: list[str]) -> str:
    labels = dict(Event.choices)
    return ", ".join(str(labels.get(e, e)) for e in events or []) or "—"


class SubscriptionForm(forms.ModelForm):
    events = _events_field("The events you receive by e-mail, at your user's address.")

    class Meta:
        model = Subscription
        fields = ["user", "events"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Every staff user chooses their own e-mails; only a superuser sees everyone's."""

    form = SubscriptionForm
    list_display = ["user", "email", "event_list", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("user")
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "events"] if request.user.is_superuser else ["events"]

    def _own(self, request: HttpRequest, obj: Any) -> bool:
        user = request.user
        staff = user.is_active and user.is_staff
        return staff and (obj is None or user.is_superuser or obj.user_id == user.pk)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if not self._own(request, None):
            return False
        return request.user.is_superuser or not Subscription.objects.filter(
            user=request.user
        ).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own(request, obj)

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        user = obj.user if request.user.is_superuser and obj.user_id else request.user
        saved = notifications.set_subscription(user=user, events=form.cleaned_data["events"])
        obj.pk, obj.user, obj.events = saved.pk, saved.user, saved.events

    @admin.display(description="e-mail")
    def email(self, subscription: Subscription) -> str:
        return subscription.user.email or "— (no address: nothing is sent)"

    @admin.display(description="events")
    def event_list(self, subscription: Subscription) -> str:
        return _event_labels(subscription.events)


class WebhookEndpointForm(forms.ModelForm):
    events = _events_field("The events this endpoint receives.")
    new_secret = forms.CharField(
        label="Secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            "Empty: crossline generates one and shows it once. On an existing endpoint, a value "
            "here replaces the secret; empty keeps it. Never shown again, only its last 4 "
            "characters."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active"]

    def clean_url(self) -> str:
        try:
            return webhooks.check_endpoint_url(self.cleaned_data["url"])
        except CrosslineError as error:
            raise ValidationError(str(error)) from None

    def clean_new_secret(self) -> str:
        secret = self.cleaned_data.get("new_secret") or ""
        if secret:
            try:
                webhooks.check_secret(secret)
            except CrosslineError as error:
                raise ValidationError(str(error)) from None
        return secret


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "event_list", "active", "secret_hint", "created_at"]
    list_filter = ["active"]
    readonly_fields = ["secret_hint", "created_by", "created_at", "updated_at"]
    actions = ["send_test_event"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        shown = ["name", "url", "events", "active", "new_secret"]
        return shown + (["secret_hint", "created_by", "created_at", "updated_at"] if obj else [])

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        given = form.cleaned_data.get("new_secret") or ""
        if change and not given:
            obj.save()
            return
        secret = given or webhooks.generate_secret()
        obj.secret = secret
        if not change:
            obj.created_by = request.user
        obj.save()
        if not given:
            # Shown this once: the receiving system's operator needs it to verify signatures.
            self.message_user(
                request,
                f"The secret of {obj.name} is {secret} — copy it to the receiving system now: "
                "crossline will only ever show its last 4 characters.",
                messages.WARNING,
            )

    @admin.display(description="events")
    def event_list(self, endpoint: WebhookEndpoint) -> str:
        return _event_labels(endpoint.events)

    @admin.display(description="secret")
    def secret_hint(self, endpoint: WebhookEndpoint) -> str:
        return endpoint.secret_hint

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            try:
                delivery = webhooks.send_test_event(endpoint=endpoint)
            except CrosslineError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.message_user(
                request,
                f"Test event queued for {endpoint.name} (delivery {delivery.delivery_id}); "
                "its outcome shows in the delivery log.",
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: written by deliveries only; "send again" queues a new delivery."""

    list_display = [
        "created_at", "event", "endpoint_name", "status", "attempts", "response_status",
        "last_attempt_at", "next_attempt_at",
    ]
    list_filter = ["status", "event"]
    search_fields = ["delivery_id", "url"]
    actions = ["send_again"]
    fields = [
        "delivery_id", "event", "endpoint", "url", "status", "attempts", "created_at",
        "last_attempt_at", "next_attempt_at", "finished_at", "response_status",
        "response_body", "error", "notification", "body",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("endpoint")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("monitoring.change_webhookendpoint")

    @admin.display(description="endpoint")
    def endpoint_name(self, delivery: WebhookDelivery) -> str:
        return delivery.endpoint.name if delivery.endpoint else f"(deleted) {delivery.url}"

    @admin.action(description="Send again (a new delivery of the same event)", permissions=["send"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        for delivery in queryset.select_related("endpoint"):
            try:
                again = webhooks.send_again(delivery=delivery)
            except CrosslineError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.message_user(
                request, f"{delivery.event} queued again as delivery {again.delivery_id}."
            )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """What crossline told, when, and to how many."""

    list_display = ["created_at", "event", "emailed_to", "deliveries_count"]
    list_filter = ["event"]
    fields = ["event", "created_at", "emailed_to", "data"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="webhook deliveries")
    def deliveries_count(self, notification: Notification) -> int:
        return notification.deliveries.count()


@admin.register(MonthCheck)
class MonthCheckAdmin(admin.ModelAdmin):
    """The monitoring page: a kind's drift and estimated performance, month by month (the
    checks themselves are written by the monthly check, never by hand)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Drift and performance",
            **monitoring_context(request.GET.get("kind"), request.GET.get("month")),
        }
        return TemplateResponse(request, "admin/monitoring/monthcheck/monitoring.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alarm)
class AlarmAdmin(admin.ModelAdmin):
    """Drift and performance alarms, one per kind and month; closed once someone looked."""

    list_display = ["signal", "type_model", "month", "model_name", "raised_at", "notified_at",
                    "closed_at", "closed_by"]
    list_filter = ["signal", "type_model", ("closed_at", admin.EmptyFieldListFilter)]
    readonly_fields = list_display + ["note"]
    actions = ["close"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Close the selected alarms (looked into)", permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet) -> None:
        closed = close_alarms(alarms=queryset, user=request.user)
        self.message_user(request, f"{closed} alarm(s) closed.")


@dashboard.register
def dashboard_panel(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's open alarms, each linking to its kind's month on the monitoring page."""
    page = reverse("admin:monitoring_monthcheck_changelist")
    names = fail_group_labels_for(request)
    return {
        "open_alarms": [
            {
                "label": f"{alarm.get_signal_display()}: {kind_label(alarm.type_model, names)}, "
                f"{alarm.month}",
                "url": f"{page}?kind={alarm.type_model}&month={alarm.month}",
                "raised_at": alarm.raised_at,
            }
            for alarm in list_open_alarms()[:10]
        ],
    }
