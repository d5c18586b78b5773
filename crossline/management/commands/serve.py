"""`manage.py serve`: waitress and a django-q2 cluster, started and stopped together."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crossline.commands import Once
from crossline.lifeline import die_with_parent

# The scheme the client used (SECURE_PROXY_SSL_HEADER) and its address (log-in throttling).
PROXY_HEADERS = "x-forwarded-proto x-forwarded-for"


class Command(BaseCommand):
    help = "Serve crossline (waitress) and a django-q2 cluster; Ctrl-C or SIGTERM stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "addr", type=str, nargs="?", default="127.0.0.1:8000", help="host:port to listen on."
        )
        parser.add_argument(
            "--threads", type=int, action=Once, default=8, help="Web server threads."
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Serve only; run no django-q2 cluster."
        )
        parser.add_argument(
            "--trusted-proxy",
            type=str,
            action=Once,
            default="",
            help="Address of the TLS-terminating proxy in front (with CROSSLINE_BEHIND_PROXY=1): "
            "its X-Forwarded-Proto and X-Forwarded-For are believed, no one else's.",
        )
        parser.add_argument(
            "--grace",
            type=float,
            action=Once,
            default=3.0,
            help="Seconds the processes get to stop after SIGTERM before they are killed.",
        )

    def handle(
        self,
        *args,
        addr: str,
        threads: int,
        no_worker: bool,
        trusted_proxy: str,
        grace: float,
        **options,
    ):
        behind_proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
        if behind_proxy and not trusted_proxy:
            # waitress drops forwarded headers from any peer it does not trust: Django would
            # never see the request as HTTPS, and redirect it to HTTPS again and again.
            raise CommandError(
                "CROSSLINE_BEHIND_PROXY=1: give the proxy's address with --trusted-proxy."
            )
        proxy = (
            [f"--trusted-proxy={trusted_proxy}", f"--trusted-proxy-headers={PROXY_HEADERS}"]
            if trusted_proxy
            else []
        )
        # A plain list, not a threading.Event: the handler runs on the main thread, which may
        # hold the Event's lock at that instant, and would wait for itself forever.
        stopping: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda signum, _: stopping.append(signum))
        children = {
            "web": spawn(
                "-m", "waitress", f"--listen={addr}", f"--threads={threads}", *proxy,
                "crossline.wsgi:application",
            )
        }
        if not no_worker:
            children["worker"] = spawn(str(settings.BASE_DIR / "manage.py"), "qcluster")
        self.stdout.write(f"crossline: serving on http://{addr}/ ({', '.join(children)})")
        failed = ""
        while not stopping:
            time.sleep(0.5)  # the handler runs within the sleep; the loop ends after it
            exited = [name for name, child in children.items() if child.poll() is not None]
            if exited:
                failed = f"{exited[0]} exited with status {children[exited[0]].returncode}"
                break
        stop_all(list(children.values()), grace=grace)
        if failed:
            self.stderr.write(f"crossline stopped: {failed}")
            sys.exit(1)
        self.stdout.write("crossline stopped.")


def spawn(*args: str) -> subprocess.Popen:
    """A child in a process group of its own, so that its whole tree can be signalled, and
    killed with everything it forks when this process dies, however it dies."""
    return subprocess.Popen(
        [sys.executable, *args],
        start_new_session=True,
        preexec_fn=functools.partial(die_with_parent, os.getpid()),
    )


def stop_all(children: list[subprocess.Popen], *, grace: float) -> None:
    """SIGTERM each child's process group; SIGKILL whatever is left after `grace` seconds.

    The django-q2 cluster would otherwise finish its current task first (a training run takes
    minutes): the reaper fails such a run once its heartbeat is stale.
    """
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:
        # Grandchildren (the cluster's sentinel and workers) may outlive their leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
