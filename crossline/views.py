"""Project-wide views: the health check and the favicon."""

from django.contrib.staticfiles import finders
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET


def task_queue_state() -> dict:
    """Tasks waiting in django-q2's ORM broker, and how long the oldest has waited."""
    from django_q.models import OrmQ

    queued = OrmQ.objects.using("default")
    oldest = queued.order_by("lock").values_list("lock", flat=True).first()
    waited = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return {"broker": "orm", "queued": queued.count(), "oldest_queued_seconds": round(waited, 1)}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the database and task-queue state; 503 when the database cannot be reached."""
    try:
        connection.ensure_connection()
        queue = task_queue_state()
    except Exception as exc:
        return JsonResponse(
            {"status": "unavailable", "database": {"ok": False, "error": str(exc)[:300]}},
            status=503,
        )
    return JsonResponse(
        {
            "status": "ok",
            "database": {"ok": True, "vendor": connection.vendor},
            "task_queue": queue,
        }
    )


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """The icon browsers ask for at /favicon.ico (an SVG; every current browser reads it)."""
    path = finders.find("crossline/favicon.svg")
    if path is None:
        raise Http404("No favicon.")
    return FileResponse(open(path, "rb"), content_type="image/svg+xml")
