"""Predictions' REST routes (registered on crossline's one API router)."""

from django.urls import path

from predictions.views import (
    BatchPredictionViewSet,
    InspectionCapacityView,
    PredictionViewSet,
    WorklistAPIView,
)

routes = [
    ("predictions/batches", BatchPredictionViewSet, "batch-prediction"),
    ("predictions", PredictionViewSet, "prediction"),
]

urlpatterns = [
    path("worklist/", WorklistAPIView.as_view(), name="worklist"),
    path("inspection-capacity/", InspectionCapacityView.as_view(), name="inspection-capacity"),
]
