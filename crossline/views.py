"""Project-wide views: the health check, the favicon, the API token and the API docs."""

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.staticfiles import finders
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiExample, extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from crossline import api
from crossline.api import JSONRenderer
from crossline.exceptions import InvalidInput
from crossline.health import run_checks
from crossline.services import get_or_issue_api_token


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


# --- the REST API's own routes: token, docs ----------------------------------------------------


class CredentialsSerializer(serializers.Serializer):
    """A user's username and password."""

    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    """A user's API token."""

    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class TokenView(APIView):
    """`POST /api/auth/token/`: a user's API token from their username and password."""

    # A wrong token in the header must not stop a user from asking for a new one.
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get an API token",
        description=(
            "Exchanges a username and password for the user's API token (the same token until "
            "an admin revokes it). Throttled per client: 10 attempts a minute, then 429."
        ),
        request=CredentialsSerializer,
        responses={200: TokenSerializer, **api.error_responses(400, 429)},
        auth=[],
        tags=["auth"],
        examples=[
            OpenApiExample(
                "credentials",
                value={"username": "quality-lead", "password": "…"},
                request_only=True,
            ),
            OpenApiExample(
                "token",
                value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        given = CredentialsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        user = authenticate(
            request=request,
            username=given.validated_data["username"],
            password=given.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise InvalidInput("Unable to log in with the given username and password.")
        return Response({"token": get_or_issue_api_token(user=user).key})


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI schema (left out of itself), readable without a user, as are its docs."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        # Errors in JSON like every other route, not in the schema's YAML.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI, served from crossline's static files."""


class ApiRedocView(SpectacularRedocView):
    """Redoc, served from crossline's static files."""

    template_name = "crossline/redoc.html"


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """The icon browsers ask for at /favicon.ico (an SVG; every current browser reads it)."""
    path = finders.find("crossline/favicon.svg")
    if path is None:
        raise Http404("No favicon.")
    return FileResponse(open(path, "rb"), content_type="image/svg+xml")
