"""Project-wide views: the health check."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
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
