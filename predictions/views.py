"""REST endpoints of predictions: CRUD by KNR, predict, batch, statistics, realised metrics."""

from typing import Any

import django_filters
from django.core.files.storage import default_storage
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from crossline.domain import KNR_PATTERN, MONTH_MESSAGE, MONTH_PATTERN, parse_month
from crossline.exceptions import NotFound
from predictions import selectors, services
from predictions.models import BatchPrediction, Prediction
from predictions.serializers import (
    BatchPredictionSerializer,
    BatchRequestSerializer,
    PredictionHistorySerializer,
    PredictionSerializer,
    PredictRequestSerializer,
)

BY_PARAMETER = OpenApiParameter(
    "by", str, required=False, enum=["production", "created"],
    description="Count by the vehicle's production month (its last test; default) or by the "
    "month the prediction was made.",
)
PERIOD_PARAMETERS = [
    OpenApiParameter("year", int, required=False),
    OpenApiParameter("month", int, required=False, description="1 to 12; needs year."),
    BY_PARAMETER,
]

class PredictionFilter(django_filters.FilterSet):
    """Predicted fail group, positives only, month of the prediction, feedback received."""

    fail_code = django_filters.NumberFilter(method="filter_fail_code", label="Predicted group")
    positive = django_filters.BooleanFilter(field_name="predicted_fail", label="Predicted to fail")
    month = django_filters.CharFilter(
        method="filter_month",
        label="Month (YYYY-MM)",
        validators=[RegexValidator(rf"^{MONTH_PATTERN}$", MONTH_MESSAGE)],
    )
    has_feedback = django_filters.BooleanFilter(method="filter_has_feedback")

    class Meta:
        model = Prediction
        fields: list[str] = []

    def filter_fail_code(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return selectors.filter_by_fail_code(queryset, int(value))

    def filter_month(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        year, month = parse_month(value)
        return selectors.filter_by_month(queryset, year, month)

    def filter_has_feedback(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(real_fail_codes__isnull=not value)


class PredictionViewSet(viewsets.ModelViewSet):
    """Predictions by KNR; `POST {"KNR": …}` predicts with the active models and stores."""

    serializer_class = PredictionSerializer
    lookup_field = "knr"
    lookup_url_kwarg = "KNR"
    lookup_value_regex = KNR_PATTERN
    filterset_class = PredictionFilter
    search_fields = ["knr"]
    ordering_fields = ["created_at", "p_fail", "knr"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self) -> QuerySet[Prediction]:
        return selectors.list_predictions()

    @extend_schema(request=PredictRequestSerializer, responses={201: PredictionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = PredictRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        [prediction] = services.predict_knrs(knrs=[data.validated_data["KNR"]])
        return Response(PredictionSerializer(prediction).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: PredictionSerializer) -> None:
        services.update_prediction(prediction=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance: Prediction) -> None:
        services.delete_prediction(prediction=instance)

    @extend_schema(responses=PredictionHistorySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request: Request, KNR: str) -> Response:
        history = selectors.list_prediction_history(KNR)
        return Response(PredictionHistorySerializer(history, many=True).data)

    @extend_schema(
        request={"multipart/form-data": BatchRequestSerializer},
        responses={201: PredictionSerializer(many=True), 202: BatchPredictionSerializer},
    )
    @action(detail=False, methods=["post"], url_path="batch",
            parser_classes=[MultiPartParser, FormParser, JSONParser])
    def batch(self, request: Request) -> Response:
        """Predict a test-results export (or `since` a date): inline if small, else queued."""
        data = BatchRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch, predictions = services.start_batch_prediction(
            upload=data.validated_data.get("file"),
            since=data.validated_data.get("since"),
            user=request.user,
        )
        url = reverse("batch-prediction-detail", kwargs={"pk": str(batch.pk)}, request=request)
        body = {**BatchPredictionSerializer(batch).data, "url": url}
        if predictions is None:
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        body["predictions"] = PredictionSerializer(predictions, many=True).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": url})

    @extend_schema(parameters=PERIOD_PARAMETERS)
    @action(detail=False, methods=["get"], url_path="fail-codes-predicted")
    def fail_codes_predicted(self, request: Request) -> Response:
        """How many current predictions flag each fail group (groups with no model last)."""
        return Response(
            selectors.count_predicted_fail_codes(
                **_period(request), no_model=selectors.list_no_model_groups()
            )
        )

    @extend_schema(parameters=PERIOD_PARAMETERS)
    @action(detail=False, methods=["get"], url_path="total-fails")
    def total_fails(self, request: Request) -> Response:
        """`fails` (flagged: the fail model or a group model over its threshold) and
        `no_fails` over the current predictions."""
        return Response(selectors.count_total_fails(**_period(request)))

    @extend_schema(
        parameters=[
            OpenApiParameter("year", int, required=True),
            OpenApiParameter("fail_code", int, required=False),
            BY_PARAMETER,
        ]
    )
    @action(detail=False, methods=["get"], url_path="fail-codes-by-month")
    def fail_codes_by_month(self, request: Request) -> Response:
        """Flagged and real counts per month of a year (of the vehicles' production, or with
        `by=created` of the predictions), for one fail group or any defect."""
        year = _int_param(request, "year", required=True)
        fail_code = _int_param(request, "fail_code", required=False)
        by = _by(request)
        months = selectors.count_fail_codes_by_month(year=year, fail_code=fail_code, by=by)
        return Response({"year": year, "fail_code": fail_code, "by": by, "months": months})

    @extend_schema(parameters=[BY_PARAMETER])
    @action(detail=False, methods=["get"], url_path="realised-metrics")
    def realised_metrics(self, request: Request) -> Response:
        """Precision, recall and PR-AUC from feedback, per model version and per month."""
        return Response(
            {
                "by_version": selectors.get_realised_metrics_by_version(),
                "by_month": selectors.get_realised_metrics_by_month(by=_by(request)),
            }
        )


def _by(request: Request) -> str:
    by = request.query_params.get("by", "").strip() or selectors.BY_PRODUCTION
    if by not in selectors.DATE_FIELDS:
        raise ValidationError({"by": "Use production or created."})
    return by


def _period(request: Request) -> dict[str, Any]:
    period = {
        "by": _by(request),
        "year": _int_param(request, "year", required=False),
        "month": _int_param(request, "month", required=False),
    }
    if period["month"] is not None and period["year"] is None:
        raise ValidationError({"month": "Give the year too."})
    if period["month"] is not None and not 1 <= period["month"] <= 12:
        raise ValidationError({"month": "Use 1 to 12."})
    return period


def _int_param(request: Request, name: str, *, required: bool) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        if required:
            raise ValidationError({name: "This parameter is required."})
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError({name: "Must be a whole number."}) from None


class BatchPredictionViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin,
                             viewsets.GenericViewSet):
    """Batch predictions and their progress."""

    serializer_class = BatchPredictionSerializer

    def get_queryset(self) -> QuerySet[BatchPrediction]:
        return selectors.list_batches()

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"])
    def result(self, request: Request, pk: str) -> FileResponse:
        """The batch's predictions as CSV (KNR, p_fail, p_<code>…, groups, indicated tests)."""
        batch = self.get_object()
        if not batch.result_file:
            raise NotFound(f"Batch {batch.pk} has no result yet ({batch.status}).")
        return FileResponse(
            default_storage.open(batch.result_file, "rb"),
            as_attachment=True,
            filename=f"predictions-batch-{batch.pk}.csv",
            content_type="text/csv",
        )
