"""Training's REST endpoints: datasets, vehicles by KNR, training runs, pipelines, train."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from crossline import api
from crossline.api import error_responses
from crossline.domain import KNR_FORMAT, KNR_PATTERN
from training import imports, runs, selectors
from training.models import Dataset, DatasetKind, PipelineDefinition, TrainingRun, Vehicle
from training.serializers import (
    DatasetSerializer,
    DatasetUploadSerializer,
    PipelineDefinitionSerializer,
    TrainingRunSerializer,
    TrainRequestSerializer,
    VehicleDetailSerializer,
    VehicleSerializer,
)

LIST_ERRORS = error_responses(400, 404)
READ_ERRORS = error_responses(404)
KNR_PATH = OpenApiParameter(
    "KNR",
    str,
    OpenApiParameter.PATH,
    pattern=rf"^{KNR_PATTERN}$",
    description=f"The vehicle's production number, {KNR_FORMAT}.",
)

# ---------------------------------------------------------------------------------------------
# Datasets and vehicles
# ---------------------------------------------------------------------------------------------


class DatasetFilter(api.FilterSet):
    class Meta:
        model = Dataset
        fields = ["kind", "status"]


@extend_schema_view(
    list=extend_schema(
        summary="List imported exports",
        responses={200: DatasetSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One imported export with its validation report",
        responses={200: DatasetSerializer, **READ_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete an imported export",
        description=(
            "Removes the export's records and stored file; vehicles are refreshed. Staff only."
        ),
        responses={204: None, **error_responses(403, 404)},
    ),
)
class DatasetViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, FormParser]
    filterset_class = DatasetFilter
    search_fields = ["original_name"]
    ordering_fields = ["uploaded_at", "rows_read", "first_at"]
    ordering = ["-uploaded_at"]

    def get_queryset(self) -> QuerySet[Dataset]:
        return selectors.list_datasets()

    @extend_schema(
        summary="Upload a plant export",
        description=(
            "Imports a test-results or defects export (CSV, gzip'd CSV, .xlsx or Parquet) and "
            "answers with the dataset and its validation report. A refused file stores nothing. "
            "Staff only."
        ),
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetSerializer, **error_responses(400, 403, 409, 413)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        upload = DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        dataset = imports.import_uploaded_file(
            upload=upload.validated_data["file"],
            kind=upload.validated_data["kind"],
            user=request.user,
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Dataset) -> None:
        imports.delete_dataset(dataset=instance)


class VehicleFilter(api.FilterSet):
    has_defects = api.BooleanFilter(help_text="Vehicles with (true) or without recorded defects.")
    fail_group = api.IntegerFilter(
        method="filter_fail_group", min_value=0, help_text="A recorded defect in this fail group."
    )
    month = api.MonthFilter(method="filter_month", help_text="Month of the first test, YYYY-MM.")

    class Meta:
        model = Vehicle
        fields = ["has_defects", "fail_group", "month"]

    def filter_fail_group(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        return selectors.filter_vehicles_by_fail_group(queryset, value)

    def filter_month(self, queryset: QuerySet, name: str, value: tuple[int, int]) -> QuerySet:
        return selectors.filter_vehicles_by_month(queryset, *value)


@extend_schema_view(
    list=extend_schema(
        summary="List vehicles", responses={200: VehicleSerializer(many=True), **LIST_ERRORS}
    ),
)
class VehicleViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter
    search_fields = ["knr"]
    ordering_fields = ["knr", "first_test_at", "nok_count", "defect_count"]
    ordering = ["knr"]
    lookup_field = "knr"
    lookup_url_kwarg = "KNR"
    # Anything up to the next slash: a malformed KNR gets a 400 saying the form, not a 404.
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Vehicle]:
        return selectors.list_vehicles()

    def get_object(self) -> Vehicle:
        knr = api.clean_knr(self.kwargs["KNR"])
        vehicle = self.get_queryset().filter(knr=knr).first()
        if vehicle is None:
            raise api.unknown_knr(knr, "vehicle")
        return vehicle

    @extend_schema(
        summary="One vehicle with its tests and defects",
        parameters=[KNR_PATH],
        responses={200: VehicleDetailSerializer, **error_responses(400, 404)},
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        vehicle = self.get_object()
        detail = selectors.get_vehicle_detail(vehicle.knr, vehicle=vehicle)
        return Response(VehicleDetailSerializer(detail).data)


# ---------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------

RUN_EXAMPLE = {
    "id": "7",
    "url": "http://crossline.plant/api/training-runs/7/",
    "kind": "retrain",
    "status": "succeeded",
    "pipeline_name": "default",
    "current_step": "",
    "progress": 100,
    "created_at": "2024-06-03T06:00:00Z",
    "started_at": "2024-06-03T06:00:01Z",
    "finished_at": "2024-06-03T06:00:52Z",
    "duration_seconds": 51.0,
    "dataset_ids": ["1", "2"],
    "metrics": {"fail": {"recall": 0.81, "precision": 0.34, "pr_auc": 0.52}},
    "skipped": {"group_9830946": "12 positive examples, fewer than 30"},
    "comparison": {
        "test_set": {"knrs": 400, "first_knr": "2024-0001601", "last_knr": "2024-0002000"},
        "metric": "pr_auc",
        "kinds": {
            "fail": {
                "new_model": "fail-v2",
                "new_model_metrics": {"recall": 0.81, "precision": 0.34, "pr_auc": 0.52},
                "last_model": "fail-v1",
                "last_model_metrics": {"recall": 0.8, "precision": 0.31, "pr_auc": 0.49},
                "differences": {"recall": 0.01, "precision": 0.03, "pr_auc": 0.03},
                "message": "fail-v2 is better than the active fail-v1 on pr_auc (+0.0300) "
                "on the same test set.",
            }
        },
    },
    "failed_step": "",
    "error": "",
    "log": "2024-06-03 06:00:00 queued by quality-lead\n",
    "task_id": "3f1c…",
    "requested_by": "4",
}


class TrainingRunFilter(api.FilterSet):
    class Meta:
        model = TrainingRun
        fields = ["status", "kind", "pipeline_name"]


@extend_schema_view(
    list=extend_schema(
        summary="List training runs",
        responses={200: TrainingRunSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One training run: status, progress, log, metrics and the comparison",
        description=(
            "`comparison` scores each new version and the active version of its kind on the "
            "same test set; read it before setting a new version as active."
        ),
        responses={200: TrainingRunSerializer, **READ_ERRORS},
        examples=[OpenApiExample("a retrain with its comparison", value=RUN_EXAMPLE)],
    ),
)
class TrainingRunViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = TrainingRun.objects.all()
    serializer_class = TrainingRunSerializer
    filterset_class = TrainingRunFilter
    ordering_fields = ["created_at", "finished_at"]
    ordering = ["-created_at"]


@extend_schema_view(
    list=extend_schema(
        summary="List pipeline definitions",
        responses={200: PipelineDefinitionSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One pipeline definition",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)],
        responses={200: PipelineDefinitionSerializer, **READ_ERRORS},
    ),
)
class PipelineDefinitionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PipelineDefinitionSerializer
    lookup_field = "name"
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[PipelineDefinition]:
        if getattr(self, "swagger_fake_view", False):
            return PipelineDefinition.objects.none()
        runs.sync_pipeline_definitions()
        return PipelineDefinition.objects.order_by("name")


TRAIN_SCHEMA = {
    "request": {"multipart/form-data": TrainRequestSerializer},
    "responses": {202: TrainingRunSerializer, **error_responses(400, 403, 404, 409, 413)},
    "examples": [
        OpenApiExample(
            "train with the default pipeline",
            value={"pipeline": "default"},
            request_only=True,
            media_type="multipart/form-data",
        ),
        OpenApiExample(
            "queued",
            value={
                **RUN_EXAMPLE,
                "status": "queued",
                "progress": 0,
                "started_at": None,
                "finished_at": None,
                "duration_seconds": None,
                "metrics": {},
                "skipped": {},
                "comparison": {},
            },
            response_only=True,
            status_codes=["202"],
        ),
    ],
}


class TrainViewSet(viewsets.ViewSet):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        summary="Train",
        description=(
            "Queues a training run on every imported export (files given are imported first: "
            "`df_falhas` defects, `df_resultados` test results). 202 with the run; follow its "
            "`url` (also the `Location` header). Staff only."
        ),
        **TRAIN_SCHEMA,
    )
    def create(self, request: Request) -> Response:
        return self._start(request, TrainingRun.Kind.TRAIN)

    @extend_schema(
        summary="Retrain",
        description=(
            "Queues a retrain: new versions are compared with the active ones on the same test "
            "set (see the run's `comparison`). Staff only."
        ),
        **TRAIN_SCHEMA,
    )
    @action(detail=False, methods=["post"])
    def retrain(self, request: Request) -> Response:
        return self._start(request, TrainingRun.Kind.RETRAIN)

    def _start(self, request: Request, kind: str) -> Response:
        given = TrainRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        uploads = [
            (given.validated_data.get("df_resultados"), DatasetKind.RESULTS),
            (given.validated_data.get("df_falhas"), DatasetKind.DEFECTS),
        ]
        for upload, upload_kind in uploads:
            if upload is not None:
                imports.import_uploaded_file(upload=upload, kind=upload_kind, user=request.user)
        run = runs.start_training_run(
            kind=kind, pipeline_name=given.validated_data["pipeline"], user=request.user
        )
        body = TrainingRunSerializer(run, context={"request": request}).data
        # DRF's Hyperlink is a str subclass, which WSGI servers may refuse in a header (wsgiref).
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": str(body["url"])}
        )
