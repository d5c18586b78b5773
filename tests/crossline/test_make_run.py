"""`make run` itself: it serves, Ctrl-C or SIGTERM stops every process within seconds, and a
SIGKILL leaves no process behind."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import ROOT, LiveCrossline, free_port, instance_environment

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.sqlite_only(
        reason="how `make run` starts and stops its processes does not depend on the database; "
        "the live tests on MongoDB start the same server and worker"
    ),
]


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (by parent id), with its command line."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = commands.get(child, "")
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, LiveCrossline]]:
    """`make run` in a session of its own (as from a terminal), once it answers `/healthz`;
    whatever is left of it afterwards is killed."""
    port = free_port()
    var_dir = tmp_path / "var"
    env = instance_environment(var_dir)
    env.pop("DJANGO_SECRET_KEY")  # make run generates and keeps its own
    env.update(DEMO_KNRS="0", ADDR=f"127.0.0.1:{port}")
    log = (tmp_path / "make-run.log").open("wb")
    # `-o`: the virtualenv is installed; make run must not reinstall it here.
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    live = LiveCrossline(url=f"http://127.0.0.1:{port}", var_dir=var_dir, env=env)
    started = set(descendants(make.pid))
    try:
        deadline = time.monotonic() + 300
        while True:
            assert make.poll() is None, (tmp_path / "make-run.log").read_text()
            started |= set(descendants(make.pid))
            try:
                if live.get_json("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "make run did not serve within 300 s"
            time.sleep(0.5)
        yield make, live
    finally:
        # By process group too: the web server and the cluster lead groups of their own, which
        # hold whatever they forked even once it no longer descends from make.
        for pid in [make.pid, *started, *descendants(make.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        make.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_make_run_stops_with_its_worker_within_seconds(tmp_path, signum):
    with make_run(tmp_path) as (make, live):
        var_dir = live.var_dir
        key = var_dir / "secret-key.txt"
        assert len(key.read_text().strip()) >= 50
        assert key.stat().st_mode & 0o077 == 0, "the key is readable by its owner only"
        # The static files come from WhiteNoise, not from a development server.
        status, headers, _ = live.request("GET", "/static/admin/css/base.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css")
        processes = wait_for_cluster(make.pid)
        commands = " | ".join(processes.values())
        assert "waitress" in commands and "qcluster" in commands, commands

        began = time.monotonic()
        os.killpg(make.pid, signum)  # as a terminal (Ctrl-C) or a service manager does
        while any(alive(pid) for pid in [make.pid, *processes]) and time.monotonic() - began < 30:
            time.sleep(0.1)
        took = time.monotonic() - began
        left = {pid: cmd for pid, cmd in processes.items() if alive(pid)}
        assert not left and not alive(make.pid), f"still running after {took:.1f} s: {left}"
        assert took < 8, f"make run took {took:.1f} s to stop"
        print(f"make run stopped in {took:.1f} s on {signal.Signals(signum).name}")


@pytest.mark.parametrize("target", ["process group", "serve alone"])
def test_make_run_killed_with_sigkill_leaves_no_process_behind(tmp_path, target):
    """SIGKILL gives `serve` no chance to stop its children: they must follow it by themselves
    (the web server, the cluster, its sentinel, pusher, monitor and workers)."""
    with make_run(tmp_path) as (make, _):
        processes = wait_for_cluster(make.pid)
        (serve,) = [pid for pid, cmd in processes.items() if "manage.py serve" in cmd]
        below_serve = descendants(serve)
        assert sum("qcluster" in cmd for cmd in below_serve.values()) >= 3, below_serve
        assert any("waitress" in cmd for cmd in below_serve.values()), below_serve

        began = time.monotonic()
        if target == "process group":
            # make and serve: the web server and the cluster have sessions of their own.
            os.killpg(make.pid, signal.SIGKILL)
        else:
            os.kill(serve, signal.SIGKILL)
        while any(alive(pid) for pid in processes) and time.monotonic() - began < 10:
            time.sleep(0.05)
        took = time.monotonic() - began
        left = {pid: cmd for pid, cmd in processes.items() if alive(pid)}
        assert not left, f"still running {took:.1f} s after SIGKILL to {target}: {left}"
        print(f"every process gone {took:.2f} s after SIGKILL to {target}")


def wait_for_cluster(pid: int) -> dict[int, str]:
    """The processes under `make run` once the worker cluster has started its workers."""
    deadline = time.monotonic() + 60
    while True:
        processes = descendants(pid)
        if sum("qcluster" in cmd for cmd in processes.values()) >= 3:
            return processes
        assert time.monotonic() < deadline, processes
        time.sleep(0.2)
