"""The model registry's REST routes (registered on crossline's one API router)."""

from django.urls import path

from mlmodels.views import ModelVersionViewSet, SelectModelView, ThresholdPolicyViewSet

routes = [
    ("models", ModelVersionViewSet, "modelversion"),
    ("threshold-policies", ThresholdPolicyViewSet, "thresholdpolicy"),
]

urlpatterns = [
    # The original's route; training's routes own the rest of /api/train/.
    path("train/select_model/", SelectModelView.as_view(), name="select-model"),
]
