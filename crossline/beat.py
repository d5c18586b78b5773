"""A heartbeat on a thread: calls a function every few seconds while the work goes on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from django.db import connections

logger = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(beat, every=15):` calls `beat()` every 15 s until the block ends.

    A thread keeps beating during long steps that never return to the caller's code (a
    model fit, a large read). It has database connections of its own, closed when it stops.
    """

    def __init__(self, beat: Callable[[], object], *, every: float, name: str) -> None:
        self.beat = beat
        self.every = every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join()

    def _run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    self.beat()
                except Exception:
                    # A missed beat is survivable; the next one, or the reaper, settles it.
                    logger.exception("Heartbeat %s failed", self.thread.name)
        finally:
            connections.close_all()
