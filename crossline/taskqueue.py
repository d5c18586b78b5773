"""django-q2's ORM broker as crossline sees it: what waits, what a worker holds, who is gone.

The broker's `lock` column means two things. For a task still waiting it is the time the task
was queued; once a cluster takes the task, it becomes "taken at + `retry`" (a time in the
future), so that no other cluster takes it while it runs. A cluster takes the next task before
a worker is free (its pusher fills an in-memory queue), so after a SIGKILL the task that ran
*and* the tasks taken ahead of it stay locked for `retry` seconds: hours, since `retry` must
exceed the longest task. Hence: workers re-stamp the lock of the task they execute every few
seconds (`beat_task`), and a taken task whose stamp is stale while no task is executing
anywhere was taken by a cluster that died; `release_orphaned_tasks` hands it back at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from crossline.beat import Heartbeat

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedTask:
    """One task in the broker: waiting since `since`, or taken and last stamped at `since`."""

    ack_id: Any
    lock: datetime | None
    task_id: str
    name: str
    taken: bool
    since: datetime

    def age(self, now: datetime) -> float:
        """Seconds since `since`, never negative."""
        return max(0.0, (now - self.since).total_seconds())


def _retry() -> timedelta:
    return timedelta(seconds=settings.Q_CLUSTER["retry"])


def _broker_rows():
    from django_q.models import OrmQ

    return OrmQ.objects.using(settings.Q_CLUSTER["orm"])


def list_queued_tasks(*, now: datetime | None = None) -> list[QueuedTask]:
    """Every task in the broker, waiting or taken by a cluster."""
    now = now or timezone.now()
    tasks = []
    for row in _broker_rows().order_by("lock"):
        taken = row.lock is not None and row.lock > now
        since = row.lock - _retry() if taken else (row.lock or now)
        tasks.append(
            QueuedTask(
                ack_id=row.pk,
                lock=row.lock,
                task_id=str(row.task_id() or ""),
                name=str(row.name() or ""),
                taken=taken,
                since=min(since, now),
            )
        )
    return tasks


def task_queue_state(*, now: datetime | None = None) -> dict[str, Any]:
    """Waiting and taken tasks, the oldest wait, and whether the queue has stopped moving."""
    now = now or timezone.now()
    tasks = list_queued_tasks(now=now)
    waiting = [t for t in tasks if not t.taken]
    taken = [t for t in tasks if t.taken]
    oldest = max((t.age(now) for t in waiting), default=0.0)
    stale_after = settings.CROSSLINE_RUN_STALE_SECONDS
    busy = any(t.age(now) < stale_after for t in taken)
    limit = settings.CROSSLINE_QUEUE_STALL_SECONDS
    stalled = bool(limit) and oldest > limit and not busy
    return {
        "broker": "orm",
        "queued": len(waiting),
        "taken": len(taken),
        "oldest_queued_seconds": round(oldest, 1),
        "worker_busy": busy,
        "stalled": stalled,
        # Taken, yet no worker has stamped any of them lately: their cluster died.
        "orphaned": 0 if busy else len(taken),
    }


# --- the worker side ------------------------------------------------------------------------

_current: dict[str, Any] = {}


def current_task_ack_id() -> Any:
    """The broker id of the task this worker process is executing, if any."""
    return _current.get("ack_id")


def beat_task(ack_id: Any) -> None:
    """Re-stamp a taken task: "taken at" becomes now, so it reads as alive."""
    _broker_rows().filter(pk=ack_id).update(lock=timezone.now() + _retry())


def start_task_heartbeat(sender: Any = None, task: dict | None = None, **kwargs: Any) -> None:
    """django-q2's `pre_execute` (in the worker): beat the task while it executes."""
    ack_id = (task or {}).get("ack_id")
    if ack_id is None:
        return
    stop_task_heartbeat()
    # At once: a task that waited in its cluster's queue was stamped when it was taken, maybe
    # long ago, and must not read as orphaned (and be handed to another cluster) while it runs.
    try:
        beat_task(ack_id)
    except Exception:
        # Raised here, it would kill the worker before the task runs; the thread beats again.
        logger.exception("Could not stamp task %s", ack_id)
    beat = Heartbeat(
        lambda: beat_task(ack_id),
        every=settings.CROSSLINE_HEARTBEAT_SECONDS,
        name=f"task-heartbeat-{ack_id}",
    )
    _current.update(ack_id=ack_id, heartbeat=beat.__enter__())


def stop_task_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    """django-q2's `post_execute_in_worker`: the task is done, stop beating it."""
    beat = _current.pop("heartbeat", None)
    _current.pop("ack_id", None)
    if beat is not None:
        beat.stop()


def release_orphaned_tasks(*, now: datetime | None = None) -> int:
    """Hand back to the queue the tasks held by clusters that died; the number released.

    Only when no task is executing anywhere (no fresh stamp but this worker's own task):
    then every stale taken task belongs to a cluster that is gone. Each release is a
    compare-and-set on the lock, so a cluster that takes the task meanwhile keeps it.
    """
    now = now or timezone.now()
    stale_after = settings.CROSSLINE_RUN_STALE_SECONDS
    own = current_task_ack_id()
    taken = [t for t in list_queued_tasks(now=now) if t.taken and t.ack_id != own]
    if any(t.age(now) < stale_after for t in taken):
        return 0
    released = 0
    for task in taken:
        released += _broker_rows().filter(pk=task.ack_id, lock=task.lock).update(lock=now)
        logger.warning("Released task %s (%s): its cluster stopped", task.ack_id, task.name)
    return released


def drop_dead_task(task_id: str) -> int:
    """Remove from the broker the task of work the reaper failed (its heartbeat stopped); the
    number of rows removed.

    Run again, the task would only find its work failed. Left taken, it reads as held by a
    dead worker (`/healthz` 503) until a pass of `release_orphaned_tasks` finds no task
    executing anywhere, which a busy worker defers. Its stamp may be a beat younger than the
    work's heartbeat, so its age is not asked. Should its worker still be alive after all,
    acknowledging a removed row removes nothing. A compare-and-set on the lock keeps a row
    that changed meanwhile.
    """
    if not task_id:
        return 0
    dropped = 0
    for task in list_queued_tasks():
        if task.task_id == task_id:
            dropped += _broker_rows().filter(pk=task.ack_id, lock=task.lock).delete()[0]
            logger.warning("Dropped task %s (%s): its work was failed", task.ack_id, task.name)
    return dropped
