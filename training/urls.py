"""Training's REST routes (registered on crossline's one API router)."""

from training.views import (
    DatasetViewSet,
    PipelineDefinitionViewSet,
    TrainingRunViewSet,
    TrainViewSet,
    VehicleViewSet,
)

routes = [
    ("datasets", DatasetViewSet, "dataset"),
    ("vehicles", VehicleViewSet, "vehicle"),
    ("training-runs", TrainingRunViewSet, "trainingrun"),
    ("pipelines", PipelineDefinitionViewSet, "pipelinedefinition"),
    ("train", TrainViewSet, "train"),
]
