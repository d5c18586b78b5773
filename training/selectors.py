"""Training's reads: runs for the dashboard and their progress, and the runs' health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from plant.selectors import json_pk
from training.models import TrainingRun


def list_recent_runs(limit: int = 5) -> list[TrainingRun]:
    """The newest training runs."""
    return list(TrainingRun.objects.order_by("-created_at")[:limit])


def get_run_step(run: TrainingRun) -> tuple[int, int]:
    """(index, total) of the step a run is on: its pipeline's steps, then the save step."""
    steps = [spec.get("step") for spec in (run.pipeline or {}).get("steps", [])]
    total = len(steps) + 1
    if run.status == TrainingRun.Status.SUCCEEDED or run.current_step == TrainingRun.SAVE_STEP:
        return total, total
    if run.current_step in steps:
        return steps.index(run.current_step) + 1, total
    return 0, total


def get_training_health() -> tuple[dict[str, Any], list[str]]:
    """Runs running and queued, and a problem for each running run whose heartbeat stopped."""
    now = timezone.now()
    stale_after = timedelta(seconds=settings.CROSSLINE_RUN_STALE_SECONDS)
    running = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).values(
            "pk", "current_step", "heartbeat_at"
        )
    )
    problems = []
    stuck = []
    for run in running:
        beat = run["heartbeat_at"]
        if beat is not None and now - beat <= stale_after:
            continue
        silent = "ever" if beat is None else f"{(now - beat).total_seconds():.0f} s"
        stuck.append(json_pk(run["pk"]))
        problems.append(
            f"Training run {run['pk']} is stuck in step {run['current_step'] or '-'!r}: no "
            f"heartbeat for {silent}. Its worker stopped; the reaper fails it and starts the "
            "next queued run once a worker (manage.py qcluster) runs."
        )
    state = {
        "running": len(running),
        "queued": TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).count(),
        "stuck_runs": stuck,
    }
    return state, problems
