"""Project-wide views: the health check and the favicon."""

from django.contrib.staticfiles import finders
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from crossline.health import run_checks


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the database, task-queue and training state; 503 with the reasons if stuck."""
    try:
        connection.ensure_connection()
        checks, problems = run_checks()
    except Exception as exc:
        return JsonResponse(
            {"status": "unavailable", "database": {"ok": False, "error": str(exc)[:300]}},
            status=503,
        )
    body = {
        "status": "stuck" if problems else "ok",
        "problems": problems,
        "database": {"ok": True, "vendor": connection.vendor},
        **checks,
    }
    return JsonResponse(body, status=503 if problems else 200)


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """The icon browsers ask for at /favicon.ico (an SVG; every current browser reads it)."""
    path = finders.find("crossline/favicon.svg")
    if path is None:
        raise Http404("No favicon.")
    return FileResponse(open(path, "rb"), content_type="image/svg+xml")
