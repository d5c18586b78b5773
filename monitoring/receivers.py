"""How monitoring answers the lower apps' signals: each becomes a notification.

A failure here is logged and swallowed: telling people must never fail a training run or an
activation (the senders also use `send_robust`).
"""

from __future__ import annotations

import logging
from typing import Any

from monitoring.checks import queue_month_checks
from monitoring.events import activated_data, registered_data, run_data
from monitoring.models import Event
from monitoring.notifications import notify

logger = logging.getLogger(__name__)


def run_succeeded(sender: Any, *, run: Any, **kwargs: Any) -> None:
    """A training run finished with its versions registered."""
    _notify(Event.RUN_SUCCEEDED, lambda: run_data(run))


def run_failed(sender: Any, *, run: Any, **kwargs: Any) -> None:
    """A training run failed (in a step, or its worker died and the reaper failed it)."""
    _notify(Event.RUN_FAILED, lambda: run_data(run))


def version_registered(
    sender: Any, *, version: Any, comparison: dict | None = None, run: Any = None, **kwargs: Any
) -> None:
    """A run registered a version, compared with the active one of its kind."""
    _notify(Event.VERSION_REGISTERED, lambda: registered_data(version, comparison, run))


def version_activated(sender: Any, *, activation: Any, **kwargs: Any) -> None:
    """A version became the active one of its kind: told, and the months checked against it.

    All kinds' due months in one task: a run activates its kinds together, and one task reads
    each month once for all of them.
    """
    _notify(Event.VERSION_ACTIVATED, lambda: activated_data(activation))
    _queue_checks()


def data_imported(sender: Any, **kwargs: Any) -> None:
    """Results or defects arrived: the months they touch are checked (those due)."""
    _queue_checks()


def _queue_checks() -> None:
    try:
        queue_month_checks()
    except Exception:
        logger.exception("Could not queue the production months' checks")


def _notify(event: str, data: Any) -> None:
    try:
        notify(event=event, data=data())
    except Exception:
        logger.exception("Could not record or queue the %s notification", event)
