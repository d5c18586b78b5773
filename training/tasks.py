"""django-q2 entry points of the training app: they take ids and call a service."""

from crossline.taskqueue import release_orphaned_tasks
from training import runs


def execute_training_run(run_id: str) -> str:
    """Execute one queued training run; the service records failure and re-raises."""
    finished = runs.execute_training_run(run_id)
    if finished is not None:
        return finished.status
    return "not started: not queued, or another run is running (it stays queued)"


def reap_stale_work() -> str:
    """The reaper (a schedule): fail dead runs, free tasks dead clusters held, start the next."""
    failed = runs.reap_stale_runs()
    released = release_orphaned_tasks()
    dispatched = runs.dispatch_next_run()
    return (
        f"{failed} stale runs failed, {released} orphaned tasks released, "
        f"{'run ' + str(dispatched.pk) if dispatched else 'no run'} dispatched"
    )
