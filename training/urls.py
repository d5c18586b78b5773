"""Training's REST routes: datasets and vehicles (training runs join the same router)."""

from rest_framework.routers import DefaultRouter

from training.views import (
    DatasetViewSet,
    PipelineDefinitionViewSet,
    TrainingRunViewSet,
    TrainViewSet,
    VehicleViewSet,
)

router = DefaultRouter(trailing_slash=True)
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("vehicles", VehicleViewSet, basename="vehicle")
router.register("training-runs", TrainingRunViewSet, basename="trainingrun")
router.register("pipelines", PipelineDefinitionViewSet, basename="pipelinedefinition")
router.register("train", TrainViewSet, basename="train")

urlpatterns = router.urls
