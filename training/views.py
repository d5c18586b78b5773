"""Training's REST endpoints: dataset upload/list/delete and vehicles by KNR."""

from __future__ import annotations

import django_filters
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from crossline.domain import KNR_PATTERN, MONTH_MESSAGE, MONTH_PATTERN, parse_month
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

# ---------------------------------------------------------------------------------------------
# Datasets and vehicles
# ---------------------------------------------------------------------------------------------


class DatasetViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Imported plant exports; upload (multipart `kind` + `file`) and delete are staff only."""

    queryset = Dataset.objects.select_related("uploaded_by")
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filterset_fields = ["kind", "status"]
    search_fields = ["original_name"]
    ordering_fields = ["uploaded_at", "rows_read", "first_at"]
    ordering = ["-uploaded_at"]

    def get_queryset(self):
        return selectors.list_datasets()

    def get_permissions(self) -> list[permissions.BasePermission]:
        if self.action in ("create", "destroy"):
            return [permissions.IsAdminUser()]
        return [permissions.IsAuthenticated()]

    @extend_schema(request=DatasetUploadSerializer, responses={201: DatasetSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
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


class VehicleFilter(django_filters.FilterSet):
    has_defects = django_filters.BooleanFilter()
    fail_group = django_filters.NumberFilter(method="filter_fail_group", label="Fail group code")
    month = django_filters.CharFilter(
        method="filter_month",
        label="Month of first test (YYYY-MM)",
        validators=[RegexValidator(rf"^{MONTH_PATTERN}$", MONTH_MESSAGE)],
    )

    class Meta:
        model = Vehicle
        fields = ["has_defects", "fail_group", "month"]

    def filter_fail_group(self, queryset, name: str, value):
        return selectors.filter_vehicles_by_fail_group(queryset, int(value))

    def filter_month(self, queryset, name: str, value: str):
        year, month = parse_month(value)
        return selectors.filter_vehicles_by_month(queryset, year, month)


class VehicleViewSet(viewsets.ReadOnlyModelViewSet):
    """Vehicles by KNR; one vehicle comes with every test and every recorded defect."""

    queryset = Vehicle.objects.all()
    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter
    search_fields = ["knr"]
    ordering_fields = ["knr", "first_test_at", "nok_count", "defect_count"]
    ordering = ["knr"]
    lookup_field = "knr"
    lookup_value_regex = KNR_PATTERN

    def get_queryset(self):
        return selectors.list_vehicles()

    @extend_schema(responses=VehicleDetailSerializer)
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        vehicle = self.get_object()
        detail = selectors.get_vehicle_detail(vehicle.knr, vehicle=vehicle)
        return Response(VehicleDetailSerializer(detail).data)


# ---------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------


class TrainingRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Training runs with their status, progress, log, metrics and comparison."""

    queryset = TrainingRun.objects.all()
    serializer_class = TrainingRunSerializer
    filterset_fields = ["status", "kind", "pipeline_name"]
    ordering_fields = ["created_at", "finished_at"]


class PipelineDefinitionViewSet(viewsets.ReadOnlyModelViewSet):
    """Pipeline definitions a run can be asked to use."""

    queryset = PipelineDefinition.objects.all()
    serializer_class = PipelineDefinitionSerializer
    lookup_field = "name"

    def get_queryset(self):
        runs.sync_pipeline_definitions()
        return PipelineDefinition.objects.all()


class TrainViewSet(viewsets.ViewSet):
    """`POST /api/train/` and `POST /api/train/retrain/`: queue a run (staff only), 202."""

    permission_classes = [permissions.IsAdminUser]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request=TrainRequestSerializer, responses={202: TrainingRunSerializer})
    def create(self, request: Request) -> Response:
        return self._start(request, TrainingRun.Kind.TRAIN)

    @extend_schema(request=TrainRequestSerializer, responses={202: TrainingRunSerializer})
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
