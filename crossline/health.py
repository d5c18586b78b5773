"""What `/healthz` checks: the database, the task queue, and the checks apps register.

An app registers a check in its `AppConfig.ready()`; a check returns its state (JSON) and a
list of problems, each a sentence an operator can act on. Any problem makes `/healthz` 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crossline.taskqueue import task_queue_state

Check = Callable[[], tuple[dict[str, Any], list[str]]]

_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Add (or replace) the check reported under `name`."""
    _checks[name] = check


def task_queue_check() -> tuple[dict[str, Any], list[str]]:
    state = task_queue_state()
    problems = []
    if state["stalled"]:
        problems.append(
            f"The task queue has not moved: the oldest task has waited "
            f"{state['oldest_queued_seconds']:.0f} s and no worker is busy; is `manage.py "
            "qcluster` running?"
        )
    if state["orphaned"]:
        problems.append(
            f"{state['orphaned']} task(s) are held by a worker that stopped; a running worker "
            "(manage.py qcluster) hands them back to the queue."
        )
    return state, problems


register_check("task_queue", task_queue_check)


def run_checks() -> tuple[dict[str, Any], list[str]]:
    """Every registered check's state by name, and all their problems."""
    states: dict[str, Any] = {}
    problems: list[str] = []
    for name, check in _checks.items():
        state, found = check()
        states[name] = state
        problems.extend(found)
    return states, problems
