from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The lower apps never import monitoring: it answers their signals here, as
        # django.contrib.auth connects its own. Imported here: they need the app registry.
        from mlmodels.signals import model_version_activated
        from monitoring import receivers
        from plant.signals import defects_imported, results_imported
        from training.signals import (
            model_version_registered,
            training_run_failed,
            training_run_succeeded,
        )

        training_run_succeeded.connect(
            receivers.run_succeeded, dispatch_uid="monitoring.run_succeeded"
        )
        training_run_failed.connect(receivers.run_failed, dispatch_uid="monitoring.run_failed")
        model_version_registered.connect(
            receivers.version_registered, dispatch_uid="monitoring.version_registered"
        )
        model_version_activated.connect(
            receivers.version_activated, dispatch_uid="monitoring.version_activated"
        )
        results_imported.connect(receivers.data_imported, dispatch_uid="monitoring.results")
        defects_imported.connect(receivers.data_imported, dispatch_uid="monitoring.defects")
