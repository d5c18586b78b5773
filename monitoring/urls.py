"""Monitoring's REST routes (registered on crossline's one API router)."""

from monitoring.views import DriftViewSet, PerformanceViewSet

routes = [
    ("monitoring/drift", DriftViewSet, "monitoring-drift"),
    ("monitoring/performance", PerformanceViewSet, "monitoring-performance"),
]
