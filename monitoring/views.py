"""REST API of monitoring: a kind's input drift and its estimated against realised performance."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from crossline import api
from crossline.api import error_responses
from monitoring.reports import drift_report, performance_report
from monitoring.serializers import (
    DriftQuery,
    DriftReportSerializer,
    PerformanceQuery,
    PerformanceReportSerializer,
)


class DriftViewSet(viewsets.ViewSet):
    """Input drift of a model kind per production month."""

    @extend_schema(
        summary="A kind's input drift per production month",
        description="The share of the columns the model relies on most that drifted, per month "
        "checked against the active version (or `model_name`), with the alarm line; and one "
        "month (`month`, else the latest judged) in detail: its columns ranked by importance × "
        "drift, each with its score, threshold, missing share then and now, and its bins against "
        "the reference's.",
        parameters=[DriftQuery],
        responses={200: DriftReportSerializer, **error_responses(400, 404)},
    )
    def list(self, request: Request) -> Response:
        query = api.query_params(DriftQuery, request)
        report = drift_report(
            query["kind"], month=query.get("month"), model_name=query.get("model_name")
        )
        return Response(DriftReportSerializer(report).data)


class PerformanceViewSet(viewsets.ViewSet):
    """Estimated and realised performance of a model kind per production month."""

    @extend_schema(
        summary="A kind's estimated and realised performance per production month",
        description="Per month checked against the active version (or `model_name`): precision, "
        "recall and flagged share at the version's threshold, estimated from its calibrated "
        "probabilities before the defects arrive (confidence-based estimation), the band they "
        "are judged by, and the realised ones once the month's labelling window closed, with "
        "the difference.",
        parameters=[PerformanceQuery],
        responses={200: PerformanceReportSerializer, **error_responses(400, 404)},
    )
    def list(self, request: Request) -> Response:
        query = api.query_params(PerformanceQuery, request)
        report = performance_report(query["kind"], model_name=query.get("model_name"))
        return Response(PerformanceReportSerializer(report).data)
