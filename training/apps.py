import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from crossline.health import register_check
        from training.selectors import get_training_health

        register_check("training", get_training_health)
        post_spawn.connect(reap_when_a_worker_starts, dispatch_uid="training-reap-on-spawn")


def reap_when_a_worker_starts(sender: object = None, **kwargs: object) -> None:
    """A (re)started worker first cleans up after the one before it, not a minute later."""
    from django.db import close_old_connections
    from django_q.conf import Conf

    from training.tasks import reap_stale_work

    if Conf.SYNC:
        return  # synchronous mode runs each task in the caller's process: no worker started
    try:
        logger.info("Reaper at worker start: %s", reap_stale_work())
    except Exception:
        logger.exception("The reaper failed at worker start")
    finally:
        close_old_connections()
