"""URLs of the model registry's REST API (included under `api/`)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from mlmodels.views import ModelVersionViewSet, SelectModelView, ThresholdPolicyViewSet

router = DefaultRouter(trailing_slash=True)
router.register("models", ModelVersionViewSet, basename="modelversion")
router.register("threshold-policies", ThresholdPolicyViewSet, basename="thresholdpolicy")

urlpatterns = [
    # The original's route; training.urls owns the rest of /api/train/.
    path("train/select_model/", SelectModelView.as_view(), name="select-model"),
    *router.urls,
]
