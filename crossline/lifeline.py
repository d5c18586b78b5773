"""Processes that die with their parent, so that a killed `serve` leaves nothing running.

`manage.py serve` starts the web server and the django-q2 cluster in sessions of their own, so
that it can signal each whole tree when it stops. Killed itself with SIGKILL, it signals
nothing, and the cluster (its sentinel, pusher, monitor and workers) and the web server went on
with parent 1. On Linux the kernel sends a process a chosen signal when its parent dies
(`prctl(PR_SET_PDEATHSIG)`): `serve` asks for SIGKILL in each child it starts, and a process
so asked asks for it in every process it forks from its main thread (django-q2 forks its
sentinel, which forks the workers), so the whole tree follows within milliseconds, whatever
killed `serve`. The setting survives `exec` but not `fork`, hence the fork hook.

SIGKILL, not SIGTERM: a cluster told to stop lets its workers finish their task first (a
training run takes minutes), and without its parent nobody would kill it after a grace period.
Work cut short is the reaper's, as after any SIGKILL. Elsewhere than Linux nothing changes.

Measured (SIGKILL to `serve`, until its 6 processes were gone): 0.06-0.17 s, idle or with a
worker busy. A watchdog thread in each process polling its parent took about one poll period
(0.9-1.1 s at 1 s, 0.14-0.29 s at 0.2 s), and a worker inside a call that holds the GIL (a
regular expression backtracking for 16 s) outlived `serve` by 7.8 and 13 s: a thread cannot
run then, the kernel's signal needs nothing from the process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once in the parent: a child between fork and exec should do as little as it can.
_prctl = _load_prctl()


def die_with_parent(parent_pid: int) -> None:
    """In a child just forked from `parent_pid`: be killed when it dies; exit if it already has."""
    if _prctl is None:
        return
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        # The parent died between the fork and the prctl: no signal will come.
        os._exit(1)


def dies_with_parent() -> bool:
    """Whether this process is to be killed when its parent dies (its parent asked for it)."""
    if _prctl is None:
        return False
    value = ctypes.c_int(0)
    _prctl(PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0)
    return value.value != 0


_forking: dict[str, int] = {}


def pass_on_to_forks() -> None:
    """Make every process this one forks from its main thread die with it, and so on down.

    Only main-thread forks: the kernel signals the child when the thread that forked it ends,
    which for another thread may be long before the process does.
    """
    main_thread = threading.main_thread().ident or 0

    def before() -> None:
        _forking["pid"] = os.getpid()

    def after_in_child() -> None:
        # The forking thread's id is this child's only thread's id.
        if threading.get_ident() == main_thread:
            die_with_parent(_forking["pid"])

    os.register_at_fork(before=before, after_in_child=after_in_child)
