"""Plant's REST endpoints: imported exports (datasets) and vehicles by KNR."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from crossline import api
from crossline.api import error_responses
from crossline.api_fields import UPLOAD_PARSERS
from crossline.domain import KNR_FORMAT, KNR_PATTERN
from plant import imports, selectors
from plant.models import Dataset, Vehicle
from plant.serializers import (
    DatasetSerializer,
    DatasetUploadSerializer,
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
            "Removes the export's records and stored file; vehicles are refreshed. Needs the "
            "permission plant.delete_dataset."
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
    lookup_value_regex = api.PK_PATTERN
    parser_classes = UPLOAD_PARSERS
    filterset_class = DatasetFilter
    search_fields = ["original_name"]
    ordering_fields = ["uploaded_at", "rows_read", "first_at"]
    ordering = ["-uploaded_at"]
    required_permissions = {"destroy": ["plant.delete_dataset"]}

    def get_queryset(self) -> QuerySet[Dataset]:
        return selectors.list_datasets()

    @extend_schema(
        summary="Upload a plant export",
        description=(
            "Imports a test-results or defects export (CSV, gzip'd CSV, .xlsx or Parquet) and "
            "answers with the dataset and its validation report (201). A large export is stored "
            "and imported by a worker (202, `Location` is the dataset: its status, progress and "
            "rows read follow the import). A refused file stores nothing. Staff only."
        ),
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetSerializer, 202: DatasetSerializer,
                   **error_responses(400, 403, 409, 413)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        upload = DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        dataset = imports.import_uploaded_file(
            upload=upload.validated_data["file"],
            kind=upload.validated_data["kind"],
            user=request.user,
        )
        body = DatasetSerializer(dataset, context=self.get_serializer_context()).data
        if not dataset.task_id:
            return Response(body, status=status.HTTP_201_CREATED)
        # A plain str: WSGI servers refuse DRF's Hyperlink as a header value.
        location = str(body["url"])
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

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
