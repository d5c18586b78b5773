"""Predictions' REST routes (registered on crossline's one API router)."""

from predictions.views import BatchPredictionViewSet, PredictionViewSet

routes = [
    ("predictions/batches", BatchPredictionViewSet, "batch-prediction"),
    ("predictions", PredictionViewSet, "prediction"),
]
