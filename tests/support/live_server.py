"""crossline started as an outsider meets it: `migrate`, `bootstrap`, a web server and a worker.

Tests that must see the real server (headers, WSGI, browsers, killed processes) use
`running_crossline`, never Django's test client. Each instance has its own var folder and, on
MongoDB, its own database, so it shares nothing with the pytest-django test database.
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "a-long-live-server-password"


@dataclass
class LiveCrossline:
    """A running crossline: its base URL, environment and processes."""

    url: str
    var_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def manage(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run `manage.py` with this instance's settings."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def start_worker(self) -> subprocess.Popen:
        """Start a django-q2 cluster (`manage.py qcluster`) for this instance."""
        process = _spawn(["manage.py", "qcluster"], self.env, self.var_dir / "qcluster.log")
        self.processes["worker"] = process
        return process

    def get_json(self, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, dict]:
        """GET a path; the status and the decoded JSON body."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body or b"null")
            except ValueError:
                return error.code, {"raw": body.decode(errors="replace")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instance_environment(var_dir: Path) -> dict[str, str]:
    """Settings for an instance with its own var folder (and its own MongoDB database)."""
    env = dict(os.environ)
    env.update(
        CROSSLINE_VAR_DIR=str(var_dir),
        CROSSLINE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        DJANGO_DEBUG="0",
        PYTHONUNBUFFERED="1",
    )
    env.pop("CROSSLINE_SQLITE_PATH", None)
    if env.get("MONGODB_URI"):
        base, _, query = env["MONGODB_URI"].partition("?")
        name = f"live_{secrets.token_hex(4)}"
        env["MONGODB_URI"] = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    return env


def server_command(port: int) -> list[str]:
    """How `make run` serves crossline."""
    return ["manage.py", "runserver", "--noreload", "--insecure", f"127.0.0.1:{port}"]


@contextlib.contextmanager
def running_crossline(
    tmp_dir: Path, *, demo_knrs: int = 0, worker: bool = False
) -> Iterator[LiveCrossline]:
    """Set up (migrate, bootstrap with `demo_knrs` demo vehicles) and serve crossline."""
    var_dir = tmp_dir / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    live = LiveCrossline(
        url=f"http://127.0.0.1:{port}", var_dir=var_dir, env=instance_environment(var_dir)
    )
    live.manage("migrate", "--noinput")
    live.manage("bootstrap", "--demo-knrs", str(demo_knrs), timeout=1200)
    try:
        live.processes["web"] = _spawn(server_command(port), live.env, var_dir / "web.log")
        if worker:
            live.start_worker()
        _wait_until_up(live)
        yield live
    finally:
        for process in live.processes.values():
            stop_process(process)


def stop_process(process: subprocess.Popen, *, grace: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `grace` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_up(live: LiveCrossline, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        web = live.processes["web"]
        if web.poll() is not None:
            log = (live.var_dir / "web.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"crossline's web server exited ({web.returncode}):\n{log}")
        with contextlib.suppress(OSError):
            status, _ = live.get_json("/healthz")
            if status in (200, 503):
                return
        time.sleep(0.2)
    raise RuntimeError(f"crossline did not answer on {live.url} within {timeout} s")
