from django.apps import AppConfig

from mlmodels.hooks import realised_metrics_by_version
from mlmodels.signals import model_version_activated
from plant.hooks import latest_prediction
from plant.signals import defects_imported, results_imported
from training.signals import reaping_stale_work


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Predictions"

    def ready(self) -> None:
        # The lower apps never import predictions: it answers their signal and hooks here, as
        # django.contrib.auth connects its signals. Imported here: they need the app registry.
        from predictions import realised, receivers

        defects_imported.connect(receivers.fill_feedback, dispatch_uid="predictions.fill_feedback")
        results_imported.connect(
            receivers.predict_arrived_vehicles, dispatch_uid="predictions.predict_arrived"
        )
        model_version_activated.connect(
            receivers.predict_after_activation,
            dispatch_uid="predictions.predict_after_activation",
        )
        reaping_stale_work.connect(
            receivers.reap_stale_batches, dispatch_uid="predictions.reap_stale_batches"
        )
        latest_prediction.register(receivers.latest_prediction)
        realised_metrics_by_version.register(realised.get_realised_metrics_by_version)
