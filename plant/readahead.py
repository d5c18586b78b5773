"""Produce a stream's items one ahead, on a thread of their own, while the consumer works."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any


def read_ahead[T](items: Iterator[T]) -> Iterator[T]:
    """Yield `items`, produced one ahead on a thread of their own; errors re-raised here."""
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(("error", exc))

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            what, value = ready.get()
            if what == "done":
                return
            if what == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)  # unblock a producer waiting to put
        thread.join()
