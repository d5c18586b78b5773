from django.apps import AppConfig

from crossline.domain import edited_fail_group_names
from mlmodels.hooks import realised_metrics_by_version
from training.hooks import latest_prediction
from training.signals import defects_imported


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Predictions"

    def ready(self) -> None:
        # The lower apps never import predictions: it answers their signal and hooks here, as
        # django.contrib.auth connects its signals. Imported here: they need the app registry.
        from predictions import receivers, selectors

        defects_imported.connect(receivers.fill_feedback, dispatch_uid="predictions.fill_feedback")
        edited_fail_group_names.register(selectors.get_fail_group_names)
        latest_prediction.register(receivers.latest_prediction)
        realised_metrics_by_version.register(selectors.get_realised_metrics_by_version)
