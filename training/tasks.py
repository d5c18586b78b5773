"""django-q2 entry points of the training app: they take ids and call a service."""

import logging

from crossline.schedules import claim_period
from crossline.taskqueue import release_orphaned_tasks
from plant import reaper
from plant import tasks as plant_tasks
from training import runs
from training.signals import reaping_stale_work

logger = logging.getLogger(__name__)


def execute_training_run(run_id: str) -> str:
    """Execute one queued training run; the service records failure and re-raises."""
    finished = runs.execute_training_run(run_id)
    if finished is not None:
        return finished.status
    return "not started: not queued, or another run is running (it stays queued)"


def run_queued_import(dataset_id: str) -> str:
    """Imports queued before the plant app held them name this path: `plant.tasks` runs them."""
    return plant_tasks.run_queued_import(dataset_id)


REAPER_SCHEDULE = "reap stale work"


def reap_stale_work(intended: str | None = None) -> str:
    """The reaper: dead runs and imports, tasks held by dead clusters, the next run, and what
    the apps above reap (`reaping_stale_work`).

    As a schedule, `intended` is the period's run time: every worker cluster's scheduler may
    queue the same period, and only the first copy to claim it reaps. A worker's own pass at
    start (no `intended`) always reaps; every step is a compare-and-set, safe beside another.
    """
    label = f"period {intended}" if intended else "at worker start"
    if intended and not claim_period(REAPER_SCHEDULE, intended):
        return f"{label}: reaped by another copy"
    failed = runs.reap_stale_runs()
    imports_reaped = reaper.reap_stale_imports()
    released = release_orphaned_tasks()
    dispatched = runs.dispatch_next_run()
    above = []
    for receiver, answer in reaping_stale_work.send_robust(sender=None):
        if isinstance(answer, Exception):  # one app's failure never stops the others' reaping
            logger.error("Reaper: %s failed: %r", receiver, answer)
        elif answer:
            above.append(str(answer))
    return (
        f"{label}: {failed} stale runs failed, {imports_reaped} imports reaped, "
        f"{released} orphaned tasks released, "
        f"{'run ' + str(dispatched.pk) if dispatched else 'no run'} dispatched"
        + "".join(f", {answer}" for answer in above)
    )
