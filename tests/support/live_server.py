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
        status, _, body = self.request("GET", path, headers=headers)
        return status, body

    def request(
        self,
        method: str,
        path: str,
        *,
        fields: dict[str, str] | None = None,
        files: dict[str, Path] | None = None,
        json_body: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], dict]:
        """Send a request (multipart when `fields` or `files` are given, JSON with
        `json_body`); status, headers, JSON."""
        data = None
        headers = dict(headers or {})
        if fields or files:
            data, headers["Content-Type"] = _multipart(fields or {}, files or {})
        elif json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), _json(error.read())

    def token(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        """A user's API token (`Authorization: Token …`), through `POST /api/auth/token/`.

        Over HTTP rather than `manage.py drf_create_token`: no process to start.
        """
        status, _, body = self.request(
            "POST", "/api/auth/token/", json_body={"username": username, "password": password}
        )
        assert status == 200, body
        return body["token"]


def _json(body: bytes) -> dict:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return {"raw": body.decode(errors="replace")}


def _multipart(fields: dict[str, str], files: dict[str, Path]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, path in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + path.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


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
    """How `make run` serves crossline (`manage.py serve` runs this web server)."""
    return ["-m", "waitress", f"--listen=127.0.0.1:{port}", "crossline.wsgi:application"]


@contextlib.contextmanager
def running_crossline(
    tmp_dir: Path,
    *,
    demo_knrs: int = 0,
    worker: bool = False,
    env: dict[str, str | None] | None = None,
) -> Iterator[LiveCrossline]:
    """Set up (migrate, bootstrap with `demo_knrs` demo vehicles) and serve crossline.

    `env` adds or overrides settings (e.g. a short CROSSLINE_RUN_STALE_SECONDS); a value of
    None removes one (CROSSLINE_ADMIN_PASSWORD: `bootstrap` then writes a generated one to
    `var/admin-password.txt`, as `make run` does).
    """
    var_dir = tmp_dir / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    live = LiveCrossline(
        url=f"http://127.0.0.1:{port}",
        var_dir=var_dir,
        env={
            name: value
            for name, value in {**instance_environment(var_dir), **(env or {})}.items()
            if value is not None
        },
    )
    live.manage("migrate", "--noinput")
    live.manage("bootstrap", "--demo-knrs", str(demo_knrs), timeout=1200)
    live.manage("collectstatic", "--noinput", "--verbosity", "0")
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
