"""What every REST endpoint shares: ObjectId-safe JSON, string primary keys, one permission
rule, one error format and the error responses the schema documents."""

import logging
import re
from typing import Any

import django_filters
import django_filters.rest_framework
from bson import ObjectId
from django import forms
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_mongodb_backend.fields import ObjectIdAutoField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import (
    authentication,
    exceptions,
    filters,
    pagination,
    permissions,
    renderers,
    serializers,
    status,
    throttling,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder as DRFJSONEncoder

from crossline.domain import KNR_MESSAGE, KNR_RE
from crossline.exceptions import CrosslineError, InvalidInput, NotFound

logger = logging.getLogger("crossline.api")

API_PREFIX = "/api/"
# Years a query may name: the plant's production, with room on both sides. Outside it a date
# cannot be built (year 0, 10000) or means a typing mistake. Months are the vocabulary's YYYY-MM
# within those years.
YEAR_MIN, YEAR_MAX = 1900, 2099
MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
# Whole numbers in URLs are ASCII digits only: `int()` and `str.isdigit()` also take other
# scripts' digits ('٣' is 3) and superscripts ('²'.isdigit(), yet int('²') fails). At most 18
# of them: every value fits a 64-bit integer (SQLite's), and int() refuses over 4,300 digits.
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
WHOLE_NUMBER_MAX = 10**18 - 1
# An object's primary key in a URL: a number on SQLite, an ObjectId's 24 hex digits on MongoDB.
PK_PATTERN = r"[0-9]{1,18}|[0-9a-f]{24}"


class JSONEncoder(DRFJSONEncoder):
    """DRF's encoder, plus MongoDB ObjectIds rendered as strings."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, ObjectId):
            return str(obj)
        return super().default(obj)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = JSONEncoder


@extend_schema_field(OpenApiTypes.STR)
class RelatedIdField(serializers.PrimaryKeyRelatedField):
    """A related object's primary key as a string, the same on SQLite and MongoDB."""

    def to_representation(self, value: Any) -> str:
        return str(value.pk)


class ModelSerializer(serializers.ModelSerializer):
    # Primary keys render as strings on both databases (ObjectIds on MongoDB, which DRF would
    # map to an integer), so that clients and the schema see one type.
    # No docstring on purpose: the schema would show it for every serializer without one.

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.AutoField: serializers.CharField,
        models.BigAutoField: serializers.CharField,
        ObjectIdAutoField: serializers.CharField,
    }
    serializer_related_field = RelatedIdField


class FormSerializer(serializers.Serializer):
    """Form input where a field sent empty is refused, not quietly taken as left out."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "getlist"):
            blank = [
                name
                for name, field in self.fields.items()
                if not field.read_only
                and not getattr(field, "allow_blank", False)
                and data.get(name, None) == ""
            ]
            if blank:
                raise exceptions.ValidationError(
                    {name: ["Give a value or leave the field out."] for name in blank}
                )
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string in JSON input; a number or a boolean is refused rather than turned into one."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A whole number in JSON input; "2", 2.0 and true are refused rather than converted."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query string: ASCII digits only (`?year=٢٠٢٤` is refused)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", WHOLE_NUMBER_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if not WHOLE_NUMBER.fullmatch(str(data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictJSONBooleanField(serializers.BooleanField):
    """true or false in JSON input; 0, 1 and "yes" are refused rather than converted."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictFloatField(serializers.FloatField):
    """A number in JSON input; "0.2" and true are refused rather than converted."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- who may do what ---------------------------------------------------------------------------


class StaffWritesPermission(permissions.BasePermission):
    """Every user reads; only staff write (uploads, training, predicting, edits, batches); a
    write the view names in `required_permissions` (action or method → Django permissions:
    set as active, threshold policies, deletions) also needs those, which the "Quality lead"
    group holds (superusers hold every one)."""

    message = "Only staff users may change data, train, set as active or start batches."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if not user.is_staff:
            return False
        needed = required_permissions(view, request)
        if not user.has_perms(needed):
            # An instance per check (DRF): the message is this request's own.
            self.message = f"This needs the permission {', '.join(needed)}."
            return False
        return True


def required_permissions(view: Any, request: Request) -> tuple[str, ...]:
    """The Django permissions a view asks for this request, beyond being staff."""
    by_action = getattr(view, "required_permissions", {})
    return tuple(by_action.get(getattr(view, "action", None) or request.method.lower(), ()))


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication; a client that sends wrong tokens too often gets 429."""

    def authenticate(self, request: Request) -> Any:
        failures = FailedTokenLog(request)
        failures.refuse_if_too_many()
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.add()
            raise


class FailedTokenLog(throttling.SimpleRateThrottle):
    """Wrong tokens per client address in the cache (the `bad-token` rate), for guessing."""

    scope = "bad-token"

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.key = self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def refuse_if_too_many(self) -> None:
        if len(self.history) >= self.num_requests:
            raise exceptions.Throttled(wait=self.duration - (self.now - self.history[-1]))

    def add(self) -> None:
        self.cache.set(self.key, [self.now, *self.history], self.duration)


# --- KNRs in URLs ------------------------------------------------------------------------------


def clean_knr(value: str) -> str:
    """A KNR from a URL or a query; InvalidInput naming the expected form otherwise."""
    knr = str(value).strip()
    if not KNR_RE.fullmatch(knr):
        raise InvalidInput(f"Not a KNR: {value!r}. {KNR_MESSAGE}", field="KNR")
    return knr


def unknown_knr(knr: str, what: str) -> NotFound:
    """The one 404 text for a KNR crossline knows nothing of."""
    return NotFound(f"No {what} for KNR {knr}.")


# --- query parameters: a bad value is a 400 naming it, never ignored ---------------------------


def refuse_repeated(request: Request, names: Any) -> None:
    """A parameter given twice (`?page=1&page=2`) is refused rather than one value picked."""
    repeated = [name for name in names if len(request.query_params.getlist(name)) > 1]
    if repeated:
        raise exceptions.ValidationError({name: ["Give one value."] for name in repeated})


def query_params(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """A view's query parameters validated by a serializer (400 naming the parameter)."""
    given = serializer_class(data=request.query_params)
    refuse_repeated(request, given.fields)
    empty = [name for name in given.fields if request.query_params.get(name, None) == ""]
    if empty:
        raise exceptions.ValidationError(
            {name: ["Give a value or leave the parameter out."] for name in empty}
        )
    given.is_valid(raise_exception=True)
    return given.validated_data


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no); anything else is an error, not "no filter"."""

    TRUE = {"true", "1", "yes"}
    FALSE = {"false", "0", "no"}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        word = str(value).strip().lower()
        if word in self.TRUE:
            return True
        if word in self.FALSE:
            return False
        raise DjangoValidationError("Use true or false.", code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class WholeNumberField(forms.IntegerField):
    """forms.IntegerField for ASCII digits only (it would take '٣' as 3)."""

    def to_python(self, value: Any) -> int | None:
        if value not in self.empty_values and not WHOLE_NUMBER.fullmatch(str(value).strip()):
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": WHOLE_NUMBER_MAX})
class IntegerFilter(django_filters.NumberFilter):
    field_class = WholeNumberField


class MonthField(forms.RegexField):
    """YYYY-MM, cleaned to (year, month)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {"invalid": "Give the month as YYYY-MM (1900-2099)."})
        super().__init__(MONTH_PATTERN, **kwargs)

    def clean(self, value: Any) -> tuple[int, int] | None:
        value = super().clean(value)
        if not value:
            return None
        year, month = value.split("-")
        return int(year), int(month)


@extend_schema_field({"type": "string", "pattern": MONTH_PATTERN, "example": "2024-03"})
class MonthFilter(django_filters.CharFilter):
    """A month as YYYY-MM; the filter method gets (year, month)."""

    field_class = MonthField


class FilterSet(django_filters.rest_framework.FilterSet):
    """Refuses, naming the parameter, an empty or repeated value (`?kind=`, `?page=1&page=2`)."""

    FILTER_DEFAULTS = {
        **django_filters.rest_framework.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
    }

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if len(values) > 1:
                self.form.add_error(name, "Give one value.")
            elif values and not values[0].strip():
                self.form.add_error(name, "Give a value or leave the parameter out.")
        return valid and not self.form.errors


class FilterBackend(django_filters.rest_framework.DjangoFilterBackend):
    """django-filter with crossline's strict FilterSet behind `filterset_fields`."""

    filterset_base = FilterSet


class Pagination(pagination.PageNumberPagination):
    """Pages of 50; `page` must be one whole number from 1, in ASCII digits (past the last
    page: 404)."""

    def get_page_number(self, request: Request, paginator: Any) -> str:
        values = request.query_params.getlist(self.page_query_param)
        if not values:
            return "1"
        if len(values) > 1 or not WHOLE_NUMBER.fullmatch(values[0]) or int(values[0]) < 1:
            raise exceptions.ValidationError(
                {self.page_query_param: ["Give one page number, a whole number from 1."]}
            )
        return values[0]

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1, maximum=WHOLE_NUMBER_MAX)
        return parameters


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=field` or `-field` (comma-separated); an unknown field is a 400."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> Any:
        refuse_repeated(request, [self.ordering_param])
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            return self.get_default_ordering(view)
        allowed = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        terms = [term.strip() for term in raw.split(",")]
        bad = [term for term in terms if term.lstrip("-") not in allowed]
        if bad or not raw.strip():
            choices = ", ".join(sorted(allowed))
            raise exceptions.ValidationError(
                {self.ordering_param: [f"Order by one of {choices} (prefix - to reverse)."]}
            )
        return terms

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", None)
        if isinstance(fields, (list, tuple)):
            for parameter in parameters:
                parameter["schema"]["enum"] = [
                    value for name in fields for value in (name, f"-{name}")
                ]
        return parameters


# --- one error format --------------------------------------------------------------------------


def error_body(detail: str, code: str, errors: dict[str, list[str]] | None = None) -> dict:
    """`{"detail": …, "code": …, "errors": {field: [message, …]}}`, the shape of every error."""
    return {"detail": detail, "code": code, "errors": errors or {}}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as `{"field": [...], "field.0.sub": [...]}`."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def _validation_body(exc: exceptions.ValidationError) -> dict:
    errors = _flatten(exc.detail)
    general = errors.pop("non_field_errors", [])
    if general:
        detail = " ".join(general)
    else:
        detail = "Invalid input: " + "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in errors.items()
        )
    return error_body(detail, "invalid", errors)


def exception_handler(exc: Exception, context: dict) -> Response:
    """Every error of a REST view as one JSON shape; unexpected errors are logged, never shown."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, CrosslineError):
        field = getattr(exc, "field", "")
        errors = {field: [str(exc)]} if field else {}
        body = error_body(str(exc), exc.code or _snake(type(exc).__name__), errors)
        status_code = exc.status_code
    elif isinstance(exc, exceptions.ValidationError):
        body, status_code = _validation_body(exc), exc.status_code
    elif isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = f"{int(exc.wait)}"
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        body, status_code = error_body(str(exc.detail), code), exc.status_code
    else:
        request = context.get("request")
        logger.error("Unexpected error on %s", getattr(request, "path", "?"), exc_info=exc)
        body = error_body("Internal server error.", "server_error")
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    return Response(body, status=status_code, headers=headers)


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown routes under /api/: the JSON 404, whatever DEBUG says (and whatever the method:
    a POST there changes nothing, so it is not refused for want of a CSRF token)."""
    return JsonResponse(error_body(f"No route {request.path}.", "not_found"), status=404)


def handler404(request: HttpRequest, exception: Exception | None = None):
    """JSON under /api/, Django's page elsewhere."""
    from django.views.defaults import page_not_found

    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("Not found.", "not_found"), status=404)
    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    """JSON under /api/, Django's page elsewhere; never a traceback."""
    from django.views.defaults import server_error

    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("Internal server error.", "server_error"), status=500)
    return server_error(request)


def describe_parameters(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Object ids in URLs are strings on both databases (ObjectIds on MongoDB); a query
    parameter given empty is refused (except `search`, where empty means no search)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and parameter["name"] == "id":
                    parameter["schema"] = {"type": "string", "pattern": f"^({PK_PATTERN})$"}
                elif parameter.get("in") == "path" and parameter["name"] == "name":
                    parameter["schema"] = {"type": "string"}
                elif (
                    parameter.get("in") == "query"
                    and parameter["name"] != "search"
                    and schema.get("type") == "string"
                ):
                    schema["minLength"] = 1
    return result


# --- the error responses every route documents -------------------------------------------------

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="What went wrong, for a person."),
        "code": serializers.CharField(help_text="A stable machine-readable code."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages per field or query parameter; empty when none is at fault.",
        ),
    },
)


def _error(description: str, detail: str, code: str, errors: dict | None = None):
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(code, value=error_body(detail, code, errors))],
    )


BAD_REQUEST = _error(
    "Invalid input: the fields or query parameters named in `errors`.",
    "Invalid input: year: Ensure this value is less than or equal to 2099.",
    "invalid",
    {"year": ["Ensure this value is less than or equal to 2099."]},
)
UNAUTHENTICATED = _error(
    "No credentials or wrong ones (`WWW-Authenticate: Token`).",
    "Authentication credentials were not provided.",
    "not_authenticated",
)
FORBIDDEN = _error(
    "The user may not do this: staff only, and some writes need a permission (named).",
    "This needs the permission mlmodels.activate_modelversion.",
    "permission_denied",
)
NOT_FOUND = _error("No such object.", "No prediction for KNR 2024-0000001.", "not_found")
CONFLICT = _error(
    "The request contradicts the current state.",
    "No active fail model: train and set one as active first.",
    "no_active_model",
)
TOO_LARGE = _error(
    "The upload is larger than CROSSLINE_MAX_UPLOAD_BYTES.",
    "The upload is 3,000,000,000 bytes, over the limit of 2,147,483,648 bytes.",
    "upload_too_large",
)
THROTTLED = _error(
    "Too many wrong tokens or passwords from this client; `Retry-After` says when to retry.",
    "Request was throttled. Expected available in 42 seconds.",
    "throttled",
)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of a route: always 401 and 429 (wrong credentials, too
    often), plus the given statuses."""
    known = {
        400: BAD_REQUEST,
        401: UNAUTHENTICATED,
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: CONFLICT,
        413: TOO_LARGE,
        429: THROTTLED,
    }
    return {code: known[code] for code in sorted({401, 429, *statuses})}
