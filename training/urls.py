"""Training's REST routes (registered on crossline's one API router)."""

from training.views import PipelineDefinitionViewSet, TrainingRunViewSet, TrainViewSet

routes = [
    ("training-runs", TrainingRunViewSet, "trainingrun"),
    ("pipelines", PipelineDefinitionViewSet, "pipelinedefinition"),
    ("train", TrainViewSet, "train"),
]
