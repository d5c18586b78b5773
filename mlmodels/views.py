"""REST API of the model registry: versions, the active version per kind, set as active."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crossline import api
from crossline.api import error_responses
from crossline.exceptions import AlreadyActive, NotFound
from mlmodels import permissions
from mlmodels.archive import archive_model_version, delete_model_version, unarchive_model_version
from mlmodels.comparison import get_version_comparison
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
    VERSION_REFS,
    ActivationSerializer,
    CompareQuery,
    F2PolicySerializer,
    ModelVersionSerializer,
    SelectModelSerializer,
    SetActiveResultSerializer,
    SetActiveSerializer,
    SharePolicySerializer,
    ThresholdPolicySerializer,
    VersionComparisonSerializer,
)
from mlmodels.services import activate_model_version, set_threshold_policy

MODEL_EXAMPLE = {
    "id": "12",
    "model_name": "fail-v2",
    "type_model": "fail",
    "version": 2,
    "accuracy": 0.83,
    "precision": 0.34,
    "recall": 0.81,
    "f1_score": 0.48,
    "roc_auc": 0.86,
    "pr_auc": 0.52,
    "mcc": 0.44,
    "confusion_matrix": [[290, 62], [9, 39]],
    "support": {"negatives": 352, "positives": 48},
    "threshold": 0.21,
    "artifact_sha256": "5f3a…",
    "training_run": "7",
    "library_versions": {"scikit-learn": "1.9.1"},
    "data": {
        "datasets": [{"id": "1", "kind": "results", "sha256": "a1b2…", "name": "results.csv"}]
    },
    "last_used": "2024-06-03T07:15:00Z",
    "using": True,
    "archived": False,
    "archived_at": None,
    "created_at": "2024-06-03T06:00:50Z",
}


COMPARISON_EXAMPLE = {
    "type_model": "fail",
    "versions": [
        {
            "id": "12",
            "model_name": "fail-v2",
            "version": 2,
            "is_active": True,
            "created_at": "2024-06-03T06:00:50Z",
            "n_test": 400,
            "metrics": {
                "pr_auc": 0.52, "roc_auc": 0.86, "recall": 0.81, "precision": 0.34,
                "flagged_share": 0.25, "f1_score": 0.48, "mcc": 0.44, "accuracy": 0.83,
                "threshold": 0.21,
            },
            "differences": {
                "pr_auc": None, "roc_auc": None, "recall": None, "precision": None,
                "flagged_share": None, "f1_score": None, "mcc": None, "accuracy": None,
                "threshold": None,
            },
            "better": [],
            "worse": [],
        },
        {
            "id": "15",
            "model_name": "fail-v3",
            "version": 3,
            "is_active": False,
            "created_at": "2024-07-01T06:01:10Z",
            "n_test": 410,
            "metrics": {
                "pr_auc": 0.55, "roc_auc": 0.87, "recall": 0.8, "precision": 0.36,
                "flagged_share": 0.24, "f1_score": 0.5, "mcc": 0.46, "accuracy": 0.84,
                "threshold": 0.23,
            },
            "differences": {
                "pr_auc": 0.03, "roc_auc": 0.01, "recall": -0.01, "precision": 0.02,
                "flagged_share": -0.01, "f1_score": 0.02, "mcc": 0.02, "accuracy": 0.01,
                "threshold": 0.02,
            },
            "better": ["pr_auc", "roc_auc", "precision", "f1_score", "mcc", "accuracy"],
            "worse": ["recall"],
        },
    ],
}


def activate_from_request(request: Request, version: ModelVersion, data: dict) -> Response:
    """Activate `version` as the request asks; the version and what happened, in words."""
    permissions.refuse_unless_may_activate(
        request.user, version, override=data.get("override", False)
    )
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


class ModelVersionFilter(api.FilterSet):
    archived = api.BooleanFilter(
        method="filter_archived",
        help_text="Archived versions (true) instead of the others; left out: not archived.",
    )

    class Meta:
        model = ModelVersion
        fields = ["type_model", "archived"]

    def filter_archived(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(archived_at__isnull=not value)


class ActivationQuery(serializers.Serializer):
    type_model = serializers.RegexField(
        r"^(fail|group_[0-9]+)$", required=False, help_text="A kind: fail or group_<code>."
    )


@extend_schema_view(
    list=extend_schema(
        summary="List model versions",
        responses={200: ModelVersionSerializer(many=True), **error_responses(400, 404)},
    ),
    retrieve=extend_schema(
        summary="One model version with its test-set metrics",
        responses={200: ModelVersionSerializer, **error_responses(404)},
        examples=[OpenApiExample("the active fail model", value=MODEL_EXAMPLE)],
    ),
    destroy=extend_schema(
        summary="Delete a model version that never predicted",
        description="Removes the version and its artifact. A version that was ever set as "
        "active is kept with its activation history (409): archive it instead. Needs the "
        "permission mlmodels.delete_modelversion.",
        responses={204: None, **error_responses(403, 404, 409)},
    ),
)
class ModelVersionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ModelVersionSerializer
    lookup_value_regex = api.PK_PATTERN
    filterset_class = ModelVersionFilter
    search_fields: list[str] = []
    ordering_fields = ["created_at", "version", "pr_auc", "recall", "f1_score", "roc_auc"]
    required_permissions = {
        "destroy": [permissions.DELETE],
        "set_active": [permissions.ACTIVATE],
        "archive": [permissions.ARCHIVE],
        "unarchive": [permissions.ARCHIVE],
    }

    def get_queryset(self) -> QuerySet[ModelVersion]:
        given = getattr(self.request, "query_params", {})
        if self.action == "list" and "archived" not in given:
            # The default list: archived versions are kept (and found by id), not listed.
            return list_model_versions(archived=False)
        return list_model_versions()

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "active_version_ids": get_active_version_ids()}

    def perform_destroy(self, instance: ModelVersion) -> None:
        delete_model_version(version=instance)

    @extend_schema(
        summary="The active version of each kind",
        responses={200: ModelVersionSerializer(many=True), **error_responses()},
    )
    @action(
        detail=False, url_path="current-models", pagination_class=None, filter_backends=[]
    )
    def current_models(self, request: Request) -> Response:
        versions = list(list_active_versions().values())
        return Response(self.get_serializer(versions, many=True).data)

    @extend_schema(
        summary="The newest version of each kind, active or not",
        responses={200: ModelVersionSerializer(many=True), **error_responses()},
    )
    @action(detail=False, pagination_class=None, filter_backends=[])
    def latest(self, request: Request) -> Response:
        return Response(self.get_serializer(list_latest_versions(), many=True).data)

    @extend_schema(
        summary="Compare versions of one kind",
        description="The numbers of the admin's comparison page: each version's test-set "
        "metrics and its differences from the first, which is the active version when it is "
        "named (then newest first). Each version is scored on its own test set; a retrain "
        "scores the new and the active version on the same one (its run's `comparison`). "
        "An unknown version: 404; versions of several kinds: 400.",
        parameters=[
            OpenApiParameter(
                "ids", {"type": "string", "pattern": VERSION_REFS, "maxLength": 2000},
                required=True,
                description=CompareQuery().fields["ids"].help_text,
                examples=[OpenApiExample("the first fail model", value="fail-v1")],
            )
        ],
        responses={200: VersionComparisonSerializer, **error_responses(400, 404)},
        examples=[
            OpenApiExample(
                "the active fail model and a challenger",
                value=COMPARISON_EXAMPLE,
                response_only=True,
            )
        ],
    )
    @action(detail=False, pagination_class=None, filter_backends=[])
    def compare(self, request: Request) -> Response:
        refs = api.query_params(CompareQuery, request)["ids"]
        return Response(VersionComparisonSerializer(get_version_comparison(refs)).data)

    @extend_schema(
        summary="Set as active",
        description="Makes this version the one that predicts for its kind. Below the "
        "activation gate it needs `override` and a `reason` (else 409) and the permission "
        "mlmodels.override_gate; an archived version is refused (409); the version already "
        "active is left as it is (200, `detail` says so). Needs the permission "
        "mlmodels.activate_modelversion.",
        request=SetActiveSerializer,
        responses={200: SetActiveResultSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="set-active")
    def set_active(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        given = SetActiveSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return activate_from_request(request, version, given.validated_data)

    @extend_schema(
        summary="Archive a version",
        description="Keeps the version and its history but leaves it out of the default list "
        "(`?archived=true` lists archived ones) and refuses to set it as active until it is "
        "unarchived. The active version cannot be archived (409). Needs the permission "
        "mlmodels.archive_modelversion.",
        request=None,
        responses={200: SetActiveResultSerializer, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        done = archive_model_version(version=version)
        detail = f"{version.model_name} is {'now' if done else 'already'} archived."
        return self._with_detail(version, detail)

    @extend_schema(
        summary="Unarchive a version",
        description="Back in the default list; it may be set as active again. Needs the "
        "permission mlmodels.archive_modelversion.",
        request=None,
        responses={200: SetActiveResultSerializer, **error_responses(403, 404)},
    )
    @action(detail=True, methods=["post"])
    def unarchive(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        done = unarchive_model_version(version=version)
        detail = f"{version.model_name} is {'no longer' if done else 'not'} archived."
        return self._with_detail(version, detail)

    def _with_detail(self, version: ModelVersion, detail: str) -> Response:
        version.refresh_from_db()
        context = {**self.get_serializer_context(), "detail": detail}
        return Response(SetActiveResultSerializer(version, context=context).data)

    @extend_schema(
        summary="Activation history, newest first",
        parameters=[ActivationQuery],
        responses={200: ActivationSerializer(many=True), **error_responses(400, 404)},
    )
    @action(detail=False, serializer_class=ActivationSerializer, filter_backends=[])
    def activations(self, request: Request) -> Response:
        query = api.query_params(ActivationQuery, request)
        history = list_activations(type_model=query.get("type_model"))
        page = self.paginate_queryset(history)
        return self.get_paginated_response(ActivationSerializer(page, many=True).data)


class SelectModelView(APIView):
    required_permissions = {"post": [permissions.ACTIVATE]}

    @extend_schema(
        summary="Set as active, by name",
        description="The original API's route: `model_name` becomes the active version of its "
        "kind (below the activation gate: with `override` and a `reason`, and the permission "
        "mlmodels.override_gate). Needs the permission mlmodels.activate_modelversion.",
        request=SelectModelSerializer,
        responses={200: SetActiveResultSerializer, **error_responses(400, 403, 404, 409)},
        examples=[OpenApiExample("by name", value={"model_name": "fail-v2"}, request_only=True)],
        tags=["models"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
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


TYPE_MODEL_PATH = OpenApiParameter(
    "type_model", str, OpenApiParameter.PATH, description="A kind: fail or group_<code>."
)


class ThresholdPolicyViewSet(viewsets.ViewSet):
    """Per kind, how the decision threshold is chosen: `f2` (default), `capacity` or `recall`.

    Writing a policy recomputes the thresholds and threshold-dependent metrics of the kind's
    versions from their stored held-out and test scores; the next prediction uses them.
    """

    lookup_field = "type_model"
    # Any value reaches the view, as on every other route: an unknown kind is the JSON 404.
    lookup_value_regex = r"[^/.]+"
    serializer_class = ThresholdPolicySerializer
    required_permissions = {"update": [permissions.EDIT_THRESHOLDS]}

    @extend_schema(
        description="Every kind with versions, with its policy (the default where none is "
        "stored).",
        responses={200: ThresholdPolicySerializer(many=True), **error_responses()},
    )
    def list(self, request: Request) -> Response:
        return Response(ThresholdPolicySerializer(list_threshold_policies(), many=True).data)

    @extend_schema(
        parameters=[TYPE_MODEL_PATH],
        responses={200: ThresholdPolicySerializer, **error_responses(404)},
    )
    def retrieve(self, request: Request, type_model: str) -> Response:
        return Response(ThresholdPolicySerializer(get_threshold_policy_record(type_model)).data)

    @extend_schema(
        description="Set the kind's policy (`type_model` comes from the URL): `f2` takes no "
        "value; `capacity` and `recall` a share in (0, 1]. Needs the permission "
        "mlmodels.change_thresholdpolicy.",
        parameters=[TYPE_MODEL_PATH],
        request=PolymorphicProxySerializer(
            component_name="ThresholdPolicyChoice",
            serializers=[F2PolicySerializer, SharePolicySerializer],
            resource_type_field_name=None,
        ),
        responses={200: ThresholdPolicySerializer, **error_responses(400, 403, 404)},
    )
    def update(self, request: Request, type_model: str) -> Response:
        given = ThresholdPolicySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        stored = set_threshold_policy(
            type_model=type_model,
            policy=given.validated_data["policy"],
            value=given.validated_data.get("value"),
            user=request.user,
        )
        return Response(ThresholdPolicySerializer(stored).data, status=status.HTTP_200_OK)
