"""REST API of the model registry: versions, the active version per kind, set as active."""

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmodels.models import ModelVersion
from mlmodels.selectors import (
    get_active_version_ids,
    list_activations,
    list_active_versions,
    list_latest_versions,
    list_model_versions,
)
from mlmodels.serializers import (
    ActivationSerializer,
    ModelVersionSerializer,
    SelectModelSerializer,
)
from mlmodels.services import activate_model_by_name, activate_model_version, delete_model_version

# Changing which model predicts, or deleting a version, is for staff (admin) users only.
STAFF_ACTIONS = {"set_active", "destroy"}


class ModelVersionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Model versions: list (filter `?type_model=`), retrieve, delete, set as active."""

    serializer_class = ModelVersionSerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_fields = ["type_model"]
    ordering_fields = ["created_at", "version", "pr_auc", "recall", "f1_score", "roc_auc"]

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return list_model_versions()

    def get_permissions(self):
        if self.action in STAFF_ACTIONS:
            return [IsAdminUser()]
        return [IsAuthenticated()]

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "active_version_ids": get_active_version_ids()}

    def perform_destroy(self, instance: ModelVersion) -> None:
        delete_model_version(version=instance)

    @extend_schema(responses=ModelVersionSerializer(many=True))
    @action(detail=False, url_path="current-models", pagination_class=None)
    def current_models(self, request: Request) -> Response:
        """The active version of each kind."""
        versions = list(list_active_versions().values())
        return Response(self.get_serializer(versions, many=True).data)

    @extend_schema(responses=ModelVersionSerializer(many=True))
    @action(detail=False, pagination_class=None)
    def latest(self, request: Request) -> Response:
        """The newest version of each kind, active or not."""
        return Response(self.get_serializer(list_latest_versions(), many=True).data)

    @extend_schema(request=None, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"], url_path="set-active")
    def set_active(self, request: Request, pk: str | None = None) -> Response:
        """Make this version the active version of its kind."""
        version = self.get_object()
        activate_model_version(version=version, user=request.user, reason="set as active (API)")
        return Response(self.get_serializer(version).data)

    @extend_schema(responses=ActivationSerializer(many=True))
    @action(detail=False, serializer_class=ActivationSerializer)
    def activations(self, request: Request) -> Response:
        """Activation history, newest first (filter `?type_model=`)."""
        history = list_activations(type_model=request.query_params.get("type_model") or None)
        page = self.paginate_queryset(history)
        if page is not None:
            return self.get_paginated_response(ActivationSerializer(page, many=True).data)
        return Response(ActivationSerializer(history, many=True).data)


class SelectModelView(APIView):
    """`POST /api/train/select_model/` with `model_name`: the original's "set as active"."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=SelectModelSerializer, responses=ModelVersionSerializer)
    def post(self, request: Request) -> Response:
        given = SelectModelSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        pointer = activate_model_by_name(
            model_name=given.validated_data["model_name"],
            user=request.user,
            reason="set as active (select_model)",
        )
        body = ModelVersionSerializer(pointer.version, context={"request": request}).data
        return Response(body, status=status.HTTP_200_OK)
