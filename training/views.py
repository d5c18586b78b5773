"""Training's REST endpoints: training runs, pipelines, train and retrain."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crossline import api
from crossline.api import error_responses
from training import runs
from training.models import PipelineDefinition, TrainingRun
from training.serializers import (
    PipelineDefinitionSerializer,
    TrainingRunSerializer,
    TrainRequestSerializer,
)

LIST_ERRORS = error_responses(400, 404)
READ_ERRORS = error_responses(404)



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
    "skipped": {"group_9830946": 12},
    "outcomes": [
        {"kind": "fail", "status": "trained", "model_name": "fail-v2",
         "estimator": "hist_gradient_boosting", "positives": 820, "step": None, "error": None,
         "candidate_errors": [{"candidate": "sparse_logistic (C 0.02)",
                               "error": "ValueError: Input X contains NaN."}]},
        {"kind": "group_4", "status": "failed", "model_name": None, "estimator": None,
         "positives": 150, "step": "train_models",
         "error": "FitFailed: every candidate failed (hist_gradient_boosting)",
         "candidate_errors": [{"candidate": "hist_gradient_boosting",
                               "error": "MemoryError: "}]},
        {"kind": "group_9830946", "status": "skipped", "model_name": None, "estimator": None,
         "positives": 12, "step": None, "error": None, "candidate_errors": []},
    ],
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
    lookup_value_regex = api.PK_PATTERN
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
    "request": TrainRequestSerializer,
    "responses": {202: TrainingRunSerializer, **error_responses(400, 403, 404, 409)},
    "examples": [
        OpenApiExample(
            "train with the default pipeline",
            value={"pipeline": "default"},
            request_only=True,
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
                "outcomes": [],
                "comparison": {},
            },
            response_only=True,
            status_codes=["202"],
        ),
    ],
}


class TrainViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="Train",
        description=(
            "Queues a training run on every imported export (upload exports first: "
            "`POST /api/datasets/`). 202 with the run; follow its `url` (also the `Location` "
            "header). An identical run already queued or running: 409. Staff only."
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
        run = runs.start_training_run(
            kind=kind, pipeline_name=given.validated_data["pipeline"], user=request.user
        )
        body = TrainingRunSerializer(run, context={"request": request}).data
        # DRF's Hyperlink is a str subclass, which WSGI servers may refuse in a header (wsgiref).
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": str(body["url"])}
        )
