"""The task `bench/task_brokers.py` queues: it notes when it ran, where, and for how long."""

import os
import time


def record(index: int, queued_at: float, log: str, seconds: float = 0.0) -> int:
    """Append `index queued started finished pid parent` to `log` (one line per execution)."""
    started = time.time()
    if seconds:
        time.sleep(seconds)
    line = f"{index} {queued_at:.6f} {started:.6f} {time.time():.6f} {os.getpid()} {os.getppid()}\n"
    # One write of a short line to a file opened for appending: lines never interleave.
    with open(log, "a") as out:
        out.write(line)
    return index
