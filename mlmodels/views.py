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

from crossline.exceptions import AlreadyActive, NotFound
from mlmodels.models import ModelVersion
from mlmodels.selectors import (
    get_active_version_ids,
    get_threshold_policy_record,
    list_activations,
    list_active_versions,
    list_latest_versions,
    list_model_versions,
    list_threshold_policies,
)
from mlmodels.serializers import (
    ActivationSerializer,
    ModelVersionSerializer,
    SelectModelSerializer,
    SetActiveResultSerializer,
    SetActiveSerializer,
    ThresholdPolicySerializer,
)
from mlmodels.services import activate_model_version, delete_model_version, set_threshold_policy

# Changing which model predicts, or deleting a version, is for staff (admin) users only.
STAFF_ACTIONS = {"set_active", "destroy"}


def activate_from_request(request: Request, version: ModelVersion, data: dict) -> Response:
    """Activate `version` as the request asks; the version and what happened, in words."""
    try:
        activation = activate_model_version(
            version=version,
            user=request.user,
            reason=data.get("reason") or ("" if data.get("override") else "set as active (API)"),
            override=data.get("override", False),
        )
    except AlreadyActive as done:
        # Idempotent: asking again for what already holds is not an error.
        detail = str(done)
    else:
        previous = activation.previous_version
        was = f" (was {previous.model_name})" if previous else ""
        forced = f" Gate overridden: {activation.reason}" if activation.override else ""
        detail = f"{version.model_name} is now the active {version.type_model} model{was}.{forced}"
    version.refresh_from_db()
    context = {"request": request, "active_version_ids": get_active_version_ids(), "detail": detail}
    return Response(SetActiveResultSerializer(version, context=context).data)


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

    @extend_schema(request=SetActiveSerializer, responses=SetActiveResultSerializer)
    @action(detail=True, methods=["post"], url_path="set-active")
    def set_active(self, request: Request, pk: str | None = None) -> Response:
        """Make this version the active version of its kind (below the gate: `override` and
        `reason`); the version already active is left as it is (200, `detail` says so)."""
        version = self.get_object()
        given = SetActiveSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return activate_from_request(request, version, given.validated_data)

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

    @extend_schema(request=SelectModelSerializer, responses=SetActiveResultSerializer)
    def post(self, request: Request) -> Response:
        given = SelectModelSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        name = given.validated_data["model_name"]
        version = list_model_versions().filter(model_name=name).first()
        if version is None:
            raise NotFound(f"No model version named {name!r}.")
        data = dict(given.validated_data)
        if not data["reason"] and not data["override"]:
            data["reason"] = "set as active (select_model)"
        return activate_from_request(request, version, data)


class ThresholdPolicyViewSet(viewsets.ViewSet):
    """Per kind, how the decision threshold is chosen: `f2` (default), `capacity` or `recall`.

    Writing a policy recomputes the thresholds and threshold-dependent metrics of the kind's
    versions from their stored held-out and test scores; the next prediction uses them.
    """

    lookup_field = "type_model"
    lookup_value_regex = r"[A-Za-z0-9_]+"
    serializer_class = ThresholdPolicySerializer

    def get_permissions(self):
        if self.action in ("create", "update", "partial_update"):
            return [IsAdminUser()]
        return [IsAuthenticated()]

    def list(self, request: Request) -> Response:
        """Every kind with versions, with its policy (the default where none is stored)."""
        return Response(ThresholdPolicySerializer(list_threshold_policies(), many=True).data)

    def retrieve(self, request: Request, type_model: str) -> Response:
        return Response(ThresholdPolicySerializer(get_threshold_policy_record(type_model)).data)

    @extend_schema(request=ThresholdPolicySerializer, responses=ThresholdPolicySerializer)
    def create(self, request: Request) -> Response:
        return self._write(request, request.data.get("type_model", ""))

    @extend_schema(request=ThresholdPolicySerializer, responses=ThresholdPolicySerializer)
    def update(self, request: Request, type_model: str) -> Response:
        return self._write(request, type_model)

    def _write(self, request: Request, type_model: str) -> Response:
        data = request.data.copy()  # a QueryDict (form) or a dict (JSON)
        data["type_model"] = type_model
        given = ThresholdPolicySerializer(data=data)
        given.is_valid(raise_exception=True)
        stored = set_threshold_policy(
            type_model=given.validated_data["type_model"],
            policy=given.validated_data["policy"],
            value=given.validated_data.get("value"),
            user=request.user,
        )
        return Response(ThresholdPolicySerializer(stored).data, status=status.HTTP_200_OK)
