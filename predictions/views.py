"""REST endpoints of predictions: CRUD by KNR, predict, batch, statistics, realised metrics."""

from typing import Any

import django_filters
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from crossline import api
from crossline.api import error_responses
from crossline.api_fields import UPLOAD_PARSERS
from crossline.domain import KNR_FORMAT, KNR_PATTERN, fail_group_label
from crossline.exceptions import NotFound
from plant.selectors import get_fail_group_labels
from predictions import arrivals, batches, feedback, realised, selectors, services
from predictions.capacity import (
    UNCHANGED,
    Capacity,
    get_inspection_capacity_record,
    get_label_window_days,
    get_window_closed_before,
)
from predictions.exports import worklist_csv, worklist_filename
from predictions.models import BatchPrediction, InspectionCapacity, Prediction
from predictions.selectors import WorklistView, get_latest_production_day, get_worklist
from predictions.serializers import (
    BatchFileSerializer,
    BatchPredictionSerializer,
    BatchSinceSerializer,
    BatchStartedSerializer,
    ByQuery,
    FailCodeCountSerializer,
    FailCodesByMonthQuery,
    FailCodesByMonthSerializer,
    InspectionCapacitySerializer,
    PeriodQuery,
    PredictionHistorySerializer,
    PredictionSerializer,
    PredictRequestSerializer,
    RealisedMetricsReportSerializer,
    TotalFailsSerializer,
    WorklistQuery,
    WorklistSerializer,
)

KNR_PATH = OpenApiParameter(
    "KNR", str, OpenApiParameter.PATH, pattern=rf"^{KNR_PATTERN}$",
    description=f"The vehicle's production number, {KNR_FORMAT}.",
)
PREDICTION_EXAMPLE = {
    "KNR": "2024-0001234",
    "p_fail": 0.62,
    "predicted_fail": True,
    "flagged_by": ["fail", "group_2"],
    "probabilities": {"2": 0.41, "4": 0.08},
    "predicted_fail_codes": [2],
    "no_model_groups": [137, 140],
    "indicated_tests": ["Door gap check", "Central locking test"],
    "model_versions": {"fail": "fail-v2", "group_2": "group_2-v1", "group_4": "group_4-v1"},
    "produced_at": "2024-06-02T21:40:00Z",
    "created_at": "2024-06-03T07:15:00Z",
    "real_fail_codes": None,
    "feedback_at": None,
}


class PredictionFilter(api.FilterSet):
    fail_code = api.IntegerFilter(
        method="filter_fail_code", min_value=0, help_text="Predicted to fail in this group."
    )
    positive = api.BooleanFilter(field_name="predicted_fail", help_text="Predicted to fail.")
    month = api.MonthFilter(method="filter_month", help_text="Month of the prediction, YYYY-MM.")
    has_feedback = api.BooleanFilter(
        method="filter_has_feedback",
        help_text="What the vehicle really had is known: a defect recorded, or none with its "
        "labelling window closed.",
    )
    feedback = django_filters.ChoiceFilter(
        choices=[(state, state) for state in feedback.STATES], method="filter_feedback",
        help_text="defect, no_defect (window closed) or waiting (window open).",
    )

    class Meta:
        model = Prediction
        fields: list[str] = []

    def filter_fail_code(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        return selectors.filter_by_fail_code(queryset, value)

    def filter_month(self, queryset: QuerySet, name: str, value: tuple[int, int]) -> QuerySet:
        return selectors.filter_by_month(queryset, *value)

    def filter_has_feedback(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return selectors.filter_by_feedback_known(
            queryset, value, closed_before=get_window_closed_before()
        )

    def filter_feedback(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.filter_by_feedback(
            queryset, value, closed_before=get_window_closed_before()
        )


KNR_ERRORS = error_responses(400, 404)
BATCH_STARTED = {201: BatchStartedSerializer, 202: BatchStartedSerializer}
WRITE_ERRORS = error_responses(400, 403, 404)


@extend_schema_view(
    list=extend_schema(
        summary="List current predictions",
        responses={200: PredictionSerializer(many=True), **error_responses(400, 404)},
    ),
    retrieve=extend_schema(
        summary="A KNR's current prediction",
        parameters=[KNR_PATH],
        responses={200: PredictionSerializer, **KNR_ERRORS},
        examples=[OpenApiExample("predicted to fail in group 2", value=PREDICTION_EXAMPLE)],
    ),
    update=extend_schema(
        summary="Edit a prediction",
        description="Only `indicated_tests` and `real_fail_codes` (the feedback) change. "
        "Staff only.",
        parameters=[KNR_PATH],
        responses={200: PredictionSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit part of a prediction",
        description="Only `indicated_tests` and `real_fail_codes` (the feedback) change. "
        "Staff only.",
        parameters=[KNR_PATH],
        responses={200: PredictionSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a prediction",
        description="Needs the permission predictions.delete_prediction.",
        parameters=[KNR_PATH],
        responses={204: None, **WRITE_ERRORS},
    ),
)
class PredictionViewSet(viewsets.ModelViewSet):
    serializer_class = PredictionSerializer
    lookup_field = "knr"
    lookup_url_kwarg = "KNR"
    # Anything up to the next slash: a malformed KNR gets a 400 saying the form, not a 404.
    lookup_value_regex = "[^/]+"
    filterset_class = PredictionFilter
    search_fields = ["knr"]
    ordering_fields = ["created_at", "p_fail", "knr"]
    required_permissions = {"destroy": ["predictions.delete_prediction"]}

    def get_queryset(self) -> QuerySet[Prediction]:
        return selectors.list_predictions()

    def get_object(self) -> Prediction:
        knr = api.clean_knr(self.kwargs["KNR"])
        prediction = selectors.get_latest_prediction(knr)
        if prediction is None:
            raise api.unknown_knr(knr, "prediction")
        return prediction

    @extend_schema(
        summary="Predict a KNR",
        description="Predicts one vehicle from its stored test results with the active models "
        "and stores the prediction (the earlier one goes to its history). Staff only.",
        request=PredictRequestSerializer,
        responses={201: PredictionSerializer, **error_responses(400, 403, 404, 409)},
        examples=[
            OpenApiExample("a KNR", value={"KNR": "2024-0001234"}, request_only=True),
            OpenApiExample("its prediction", value=PREDICTION_EXAMPLE, response_only=True,
                           status_codes=["201"]),
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = PredictRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        [prediction] = services.predict_knrs(knrs=[data.validated_data["KNR"]])
        return Response(PredictionSerializer(prediction).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: PredictionSerializer) -> None:
        services.update_prediction(prediction=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance: Prediction) -> None:
        services.delete_prediction(prediction=instance)

    @extend_schema(
        summary="A KNR's earlier predictions",
        description="Every replaced prediction of the KNR, newest first: a plain list, not "
        "paginated (a KNR has a handful).",
        parameters=[KNR_PATH],
        responses={200: PredictionHistorySerializer(many=True), **KNR_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, KNR: str) -> Response:
        knr = api.clean_knr(KNR)
        history = list(selectors.list_prediction_history(knr))
        if not history and selectors.get_latest_prediction(knr) is None:
            raise api.unknown_knr(knr, "prediction")
        return Response(PredictionHistorySerializer(history, many=True).data)

    @extend_schema(
        summary="Predict a test-results export",
        description="Small batches run at once (201, with the predictions); larger ones are "
        "queued (202); follow `url` (also the `Location` header). Staff only.",
        request={"multipart/form-data": BatchFileSerializer},
        responses={**BATCH_STARTED, **error_responses(400, 403, 409, 413)},
    )
    @action(detail=False, methods=["post"], url_path="batch", pagination_class=None,
            filter_backends=[], parser_classes=UPLOAD_PARSERS)
    def batch(self, request: Request) -> Response:
        data = BatchFileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._start_batch(request, upload=data.validated_data["file"])

    @extend_schema(
        summary="Predict every vehicle tested since a date",
        description="Small batches run at once (201, with the predictions); larger ones are "
        "queued (202); follow `url` (also the `Location` header). Staff only.",
        request=BatchSinceSerializer,
        responses={**BATCH_STARTED, **error_responses(400, 403, 409)},
        examples=[OpenApiExample("since a date", value={"since": "2024-06-01T00:00:00Z"},
                                 request_only=True)],
    )
    @action(detail=False, methods=["post"], url_path="batch/since", pagination_class=None,
            filter_backends=[])
    def batch_since(self, request: Request) -> Response:
        data = BatchSinceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._start_batch(request, since=data.validated_data["since"])

    def _start_batch(self, request: Request, **source: Any) -> Response:
        batch, predictions = batches.start_batch_prediction(**source, user=request.user)
        url = reverse("batch-prediction-detail", kwargs={"pk": str(batch.pk)}, request=request)
        body = {**BatchPredictionSerializer(batch).data, "url": url, "predictions": None}
        if predictions is None:
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        body["predictions"] = PredictionSerializer(predictions, many=True).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": url})

    @extend_schema(
        summary="How many current predictions flag each fail group",
        description="Groups with no model able to predict follow, with no count. `year` and "
        "`month` count the vehicles produced then (`by=created`: predictions made then).",
        parameters=[PeriodQuery],
        responses={200: FailCodeCountSerializer(many=True), **error_responses(400)},
    )
    @action(detail=False, methods=["get"], url_path="fail-codes-predicted",
            pagination_class=None, filter_backends=[])
    def fail_codes_predicted(self, request: Request) -> Response:
        query = api.query_params(PeriodQuery, request)
        return Response(
            selectors.count_predicted_fail_codes(
                **query, no_model=selectors.list_no_model_groups()
            )
        )

    @extend_schema(
        summary="Current predictions flagged and not",
        description="Flagged: the fail model or any fail-group model over its threshold.",
        parameters=[PeriodQuery],
        responses={200: TotalFailsSerializer, **error_responses(400)},
    )
    @action(detail=False, methods=["get"], url_path="total-fails", pagination_class=None,
            filter_backends=[])
    def total_fails(self, request: Request) -> Response:
        return Response(selectors.count_total_fails(**api.query_params(PeriodQuery, request)))

    @extend_schema(
        summary="Flagged and real counts per month of a year",
        description="Per month of the vehicles' production (their last test; `by=created`: of "
        "the predictions), for one fail group (`fail_code`) or, without it, for any defect.",
        parameters=[FailCodesByMonthQuery],
        responses={200: FailCodesByMonthSerializer, **error_responses(400)},
    )
    @action(detail=False, methods=["get"], url_path="fail-codes-by-month",
            pagination_class=None, filter_backends=[])
    def fail_codes_by_month(self, request: Request) -> Response:
        query = api.query_params(FailCodesByMonthQuery, request)
        year, fail_code, by = query["year"], query.get("fail_code"), query["by"]
        months = selectors.count_fail_codes_by_month(year=year, fail_code=fail_code, by=by)
        return Response({"year": year, "fail_code": fail_code, "by": by, "months": months})

    @extend_schema(
        summary="Realised precision, recall and PR-AUC from feedback",
        description="Per model version and per month of the vehicles' production (`by=created`: "
        "of the predictions), over the predictions whose real fail groups are known.",
        parameters=[ByQuery],
        responses={200: RealisedMetricsReportSerializer, **error_responses(400)},
    )
    @action(detail=False, methods=["get"], url_path="realised-metrics", pagination_class=None,
            filter_backends=[])
    def realised_metrics(self, request: Request) -> Response:
        by = api.query_params(ByQuery, request)["by"]
        return Response(
            {
                "by_version": realised.get_realised_metrics_by_version(),
                "by_month": realised.get_realised_metrics_by_month(by=by),
            }
        )


@extend_schema_view(
    list=extend_schema(
        summary="Batch predictions (one's own; staff see every batch)",
        responses={200: BatchPredictionSerializer(many=True), **error_responses(400, 404)},
    ),
    retrieve=extend_schema(
        summary="A batch prediction's status and progress",
        responses={200: BatchPredictionSerializer, **error_responses(404)},
    ),
)
class BatchPredictionViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin,
                             viewsets.GenericViewSet):
    serializer_class = BatchPredictionSerializer
    lookup_value_regex = api.PK_PATTERN
    ordering_fields = ["created_at", "finished_at"]
    search_fields = ["original_name"]

    def get_queryset(self) -> QuerySet[BatchPrediction]:
        batches = selectors.list_batches()
        if getattr(self, "swagger_fake_view", False):
            return batches
        if not self.request.user.is_staff:
            # A batch's result names vehicles and their predictions: its owner's business.
            batches = batches.filter(requested_by=self.request.user)
        return batches

    @extend_schema(
        summary="Download a batch's predictions as CSV",
        description="KNR, p_fail, p_<code> per fail group, the predicted groups and the "
        "indicated tests. 404 until the batch has succeeded.",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV."),
            **error_responses(404),
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def result(self, request: Request, pk: str) -> FileResponse:
        batch = self.get_object()
        if not batch.result_file:
            raise NotFound(f"Batch {batch.pk} has no result yet ({batch.status}).")
        return FileResponse(
            default_storage.open(batch.result_file, "rb"),
            as_attachment=True,
            filename=f"predictions-batch-{batch.pk}.csv",
            content_type="text/csv",
        )


# --- the worklist and the inspection capacity ----------------------------------------------


def _capacity_body(record: InspectionCapacity) -> dict[str, Any]:
    return {
        "share": record.share,
        "vehicles_per_day": record.vehicles_per_day,
        "label_window_days": record.label_window_days,
        "label_window_in_force": get_label_window_days(),
        "description": Capacity(share=record.share,
                                vehicles_per_day=record.vehicles_per_day).describe(),
        "updated_by": record.updated_by.username if record.updated_by else None,
        "updated_at": record.updated_at,
    }


class InspectionCapacityView(APIView):
    """The plant's inspection capacity: how many vehicles the worklist takes per production
    day."""

    # Reading it is open to every user; changing it needs the permission (the quality lead's).
    required_permissions = {"put": ["predictions.change_inspectioncapacity"]}

    @extend_schema(
        summary="The inspection capacity",
        responses={200: InspectionCapacitySerializer, **error_responses()},
        tags=["worklist"],
    )
    def get(self, request: Request) -> Response:
        return Response(InspectionCapacitySerializer(
            _capacity_body(get_inspection_capacity_record())).data)

    @extend_schema(
        summary="Set the inspection capacity",
        description="`{\"share\": 0.2}` (20% of each production day's vehicles) or "
        "`{\"vehicles_per_day\": 150}`; `{}` or nulls: no cap (each model's threshold policy "
        "flags). A share is in (0, 1]: 20 is refused (0.2 means 20%). `label_window_days` "
        "left out stays as it is. The vehicles inside their labelling window are flagged again "
        "in the background. Needs the permission to change the capacity.",
        request=InspectionCapacitySerializer,
        responses={200: InspectionCapacitySerializer, **error_responses(400, 403)},
        examples=[
            OpenApiExample("a share", value={"share": 0.2}, request_only=True),
            OpenApiExample("vehicles per day", value={"vehicles_per_day": 150},
                           request_only=True),
        ],
        tags=["worklist"],
    )
    def put(self, request: Request) -> Response:
        given = InspectionCapacitySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        window = data.get("label_window_days", UNCHANGED)
        record = arrivals.change_inspection_capacity(
            share=data.get("share"), vehicles_per_day=data.get("vehicles_per_day"),
            label_window_days=window, user=request.user,
        )
        return Response(InspectionCapacitySerializer(_capacity_body(record)).data)


class WorklistCSVRenderer(BaseRenderer):
    """The worklist as CSV (`?format=csv`); errors are JSON (`WorklistAPIView`)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: WorklistView, accepted_media_type: str | None = None,
               renderer_context: dict | None = None) -> bytes:
        return worklist_csv(data, get_fail_group_labels()).encode()


class WorklistAPIView(APIView):
    """The worklist of a production day (or a range), riskiest first."""

    renderer_classes = [api.JSONRenderer, WorklistCSVRenderer]

    @extend_schema(
        summary="The worklist of a production day",
        description="The vehicles to inspect, riskiest first, each with its fail groups, its "
        "indicated tests and the test results that raised its risk; `?format=csv` for CSV. "
        "A production day is the day of a vehicle's last test.",
        parameters=[WorklistQuery],
        responses={
            (200, "application/json"): WorklistSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV."),
            **{(code, "application/json"): response
               for code, response in error_responses(400, 404).items()},
        },
        tags=["worklist"],
    )
    def get(self, request: Request) -> Response:
        query = api.query_params(WorklistQuery, request)
        first = query.get("date") or get_latest_production_day()
        if first is None:
            raise NotFound("No vehicle has been predicted yet: the worklist is empty.")
        worklist = get_worklist(first, query.get("to"))
        if request.accepted_renderer.format == "csv":
            filename = worklist_filename(worklist, "csv")
            return Response(worklist, headers={
                "Content-Disposition": f'attachment; filename="{filename}"'
            })
        return Response(WorklistSerializer(worklist_body(worklist)).data)

    def finalize_response(self, request: Request, response: Any, *args: Any,
                          **kwargs: Any) -> Any:
        # An error is JSON, as documented, even when CSV was asked for.
        renderer = getattr(request, "accepted_renderer", None)
        if getattr(response, "exception", False) and isinstance(renderer, WorklistCSVRenderer):
            request.accepted_renderer = api.JSONRenderer()
            request.accepted_media_type = request.accepted_renderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def worklist_body(worklist: WorklistView) -> dict[str, Any]:
    """The worklist's JSON shape, groups by the names people see."""
    labels = get_fail_group_labels()
    return {
        "date": worklist.first,
        "to": worklist.last,
        "capacity": worklist.capacity.describe(),
        "days": [
            {"date": d.day, "vehicles": d.vehicles, "allowed": d.allowed, "listed": d.listed}
            for d in worklist.days
        ],
        "vehicles": [
            {
                "rank": rank,
                "KNR": p.knr,
                "production_day": timezone.localtime(p.produced_at).date()
                if p.produced_at else None,
                "risk": p.risk,
                "fail_groups": [
                    {"code": int(code), "name": fail_group_label(code, labels),
                     "probability": (p.probabilities or {}).get(str(code))}
                    for code in p.predicted_fail_codes or []
                ],
                "indicated_tests": p.indicated_tests or [],
                "reasons": p.explanation or [],
            }
            for rank, p in enumerate(worklist.vehicles, start=1)
        ],
    }
