"""A worker SIGKILLed in the middle of an import, under the real server and worker cluster."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plant.demo import generate_demo_data
from tests.support.live_server import ROOT, LiveCrossline, running_crossline

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.sqlite_only(
        reason="the kill must land mid-import, which needs hundreds of thousands of rows; "
        "mongoeco refuses new clients under such an import (keep MongoDB-path data small)"
    ),
]

KNRS = 12_000  # about 480,000 result rows: two chunks and several seconds of import
STALE_SECONDS = 4
# The reaper's schedule runs every minute; django-q2's scheduler looks every 30 s or so.
REAPER_PERIOD = 60 + 30


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def upload(live: LiveCrossline, token: str, path: Path, kind: str) -> tuple[int, dict, dict]:
    """POST a file to /api/datasets/ as multipart; status, headers and JSON body."""
    boundary = secrets.token_hex(16)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{live.url}/api/datasets/", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Authorization": f"Token {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def leftovers(live: LiveCrossline, dataset_id: Any) -> dict:
    """What the database and the storage hold of one dataset."""
    script = (
        "import json; from django.core.files.storage import default_storage as s\n"
        "from plant.models import Dataset, Vehicle, VehicleRecord\n"
        "def files(d):\n"
        "    try: dirs, names = s.listdir(d)\n"
        "    except FileNotFoundError: return []\n"
        "    return [d + '/' + n for n in names] + [f for x in dirs for f in files(d + '/' + x)]\n"
        f"pk = Dataset._meta.pk.to_python({json.dumps(str(dataset_id))})\n"
        "print(json.dumps({'records': VehicleRecord.objects.filter(dataset_id=pk).count(),"
        " 'vehicles': Vehicle.objects.count(), 'files': files('datasets')}))"
    )
    for _ in range(6):
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=live.env,
            capture_output=True, text=True, timeout=300,
        )
        # mongoeco answers one request at a time: under a large import a new client can time
        # out choosing the server, and asks again.
        if done.returncode == 0 or "No servers found yet" not in done.stderr:
            break
        time.sleep(5)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def get(live: LiveCrossline, token: str, path: str) -> dict:
    """GET an API path as the admin; the JSON body, or the server's log on an error."""
    status, body = live.get_json(path, headers={"Authorization": f"Token {token}"})
    if status != 200:
        log = (live.var_dir / "web.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"GET {path}: {status} {body}\n{log}")
    return body


def process_holding(folder_prefix: str, session: int) -> int | None:
    """The process of this session with a file open under a folder named `folder_prefix*`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(Path(target).parent.name.startswith(folder_prefix) for target in targets):
            return int(entry.name)
    return None


def test_a_worker_killed_during_an_import_is_reaped_and_the_file_imports_again(
    tmp_path, monkeypatch
):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for name, value in {
        "CROSSLINE_IMPORT_INLINE_BYTES": "0",  # every upload goes to the worker
        "CROSSLINE_HEARTBEAT_SECONDS": "1",
        "CROSSLINE_IMPORT_STALE_SECONDS": str(STALE_SECONDS),
        "TMPDIR": str(scratch),
    }.items():
        monkeypatch.setenv(name, value)
    files = generate_demo_data(knrs=KNRS, out_dir=tmp_path / "demo", seed=2)

    with running_crossline(tmp_path, worker=True) as live:
        token = live.manage("drf_create_token", "admin").stdout.split()[2]
        status, headers, queued = upload(live, token, files["results"], "results")
        assert status == 202, queued
        assert queued["status"] == "queued"
        path = headers["Location"].removeprefix(live.url)
        assert path == f"/api/datasets/{queued['id']}/"

        def importing():
            body = get(live, token, path)
            assert body["status"] in ("queued", "importing"), body
            return body if body["rows_read"] > 0 else None

        # Half-way: the first chunk's records written (rows read count after they are), the
        # next chunk being read, the worker holding files in the import's temporary folder.
        during = wait_for(importing, timeout=180, what="the import's first rows")
        assert 0 < during["progress"] < 100
        worker_pid = wait_for(
            lambda: process_holding(f"crossline-import-{queued['id']}-",
                                    live.processes["worker"].pid),
            timeout=30, what="the worker process holding the import's folder",
        )
        os.kill(worker_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        def failed():
            body = get(live, token, path)
            return body if body["status"] == "failed" else None

        reaped = wait_for(failed, timeout=STALE_SECONDS + REAPER_PERIOD + 30, every=1,
                          what="the reaper failing the killed import")
        reaped_after = time.monotonic() - killed_at
        assert "no heartbeat" in reaped["error"]
        assert leftovers(live, queued["id"]) == {"records": 0, "vehicles": 0, "files": []}
        assert not list(scratch.rglob("crossline-import-*"))

        # The same file, at once: queued again and imported by the restarted worker.
        status, _, again = upload(live, token, files["results"], "results")
        assert status == 202, again
        ready = wait_for(
            lambda: (body := get(live, token, f"/api/datasets/{again['id']}/"))["status"]
            in ("ready", "failed") and body,
            timeout=300, every=1, what="the second import",
        )
        assert ready["status"] == "ready", ready
        assert ready["knr_count"] == KNRS
        assert leftovers(live, again["id"])["vehicles"] == KNRS
    print(f"killed import reaped {reaped_after:.1f} s after the SIGKILL")
