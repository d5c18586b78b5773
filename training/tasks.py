"""django-q2 entry points of the training app: they take ids and call a service."""

from crossline.taskqueue import release_orphaned_tasks
from plant import reaper
from plant import tasks as plant_tasks
from training import runs


def execute_training_run(run_id: str) -> str:
    """Execute one queued training run; the service records failure and re-raises."""
    finished = runs.execute_training_run(run_id)
    if finished is not None:
        return finished.status
    return "not started: not queued, or another run is running (it stays queued)"


def run_queued_import(dataset_id: str) -> str:
    """Imports queued before the plant app held them name this path: `plant.tasks` runs them."""
    return plant_tasks.run_queued_import(dataset_id)


def reap_stale_work() -> str:
    """The reaper (a schedule): dead runs and imports, tasks held by dead clusters, the next run."""
    failed = runs.reap_stale_runs()
    imports_reaped = reaper.reap_stale_imports()
    released = release_orphaned_tasks()
    dispatched = runs.dispatch_next_run()
    return (
        f"{failed} stale runs failed, {imports_reaped} imports reaped, "
        f"{released} orphaned tasks released, "
        f"{'run ' + str(dispatched.pk) if dispatched else 'no run'} dispatched"
    )
