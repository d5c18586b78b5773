"""Two django-q2 worker clusters on one MongoDB database, as on two hosts, one SIGKILLed mid-run.

Every import and run ends once, no version is registered twice, every small task runs, and
the reaper acts once per period across the clusters.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plant.demo import generate_demo_data
from tests.support.live_server import ROOT, LiveCrossline, _spawn, running_crossline

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.mongodb_only(
        reason="several worker hosts share a MongoDB database; the embedded SQLite default "
        "serves one host, where one cluster runs"
    ),
]

SMALL_TASKS = 50
STALE_SECONDS = 8
# The reaper's schedule runs every minute; django-q2's scheduler looks every 30 s or so.
REAPER_PERIOD = 60 + 30

# The default pipeline with its boosting never stopping early: a run long enough to be killed.
SLOW_PIPELINE = """
import json
from training.models import PipelineDefinition
from training.pipeline.definition import PIPELINES_DIR
definition = json.loads((PIPELINES_DIR / "default.json").read_text())
definition["name"] = "slow"
options = definition["params"]["estimator_options"]["hist_gradient_boosting"]
options.update(max_iter=3000, n_iter_no_change=3000, learning_rate=0.001)
PipelineDefinition.objects.create(name="slow", definition=definition)
print("null")
"""

# What two schedulers that read the reaper's schedule at once would both queue: copies of one
# period (with the 50 small tasks).
QUEUE_SMALL_TASKS = """
import json
from django.utils import timezone
from django_q.tasks import async_task
period = timezone.now().replace(microsecond=0).isoformat()
copies = [async_task("training.tasks.reap_stale_work", intended=period) for _ in range(3)]
pings = [async_task("crossline.tasks.ping") for _ in range({count})]
print(json.dumps({{"period": period, "pings": pings}}))
"""

END_STATE = """
import json
from django_q.models import OrmQ, Task
from mlmodels.models import ModelVersion
from plant.models import Dataset, VehicleRecord
pings = {pings}
reaps = [str(t.result) for t in Task.objects.filter(func="training.tasks.reap_stale_work")]
print(json.dumps({{
    "pings_done": Task.objects.filter(id__in=pings, success=True).count(),
    "reaps": reaps,
    "versions": [[v.model_name, str(v.training_run_id)] for v in ModelVersion.objects.all()],
    "datasets": [
        [str(d.pk), d.status, VehicleRecord.objects.filter(dataset_id=d.pk).count(), bool(d.file)]
        for d in Dataset.objects.all()
    ],
    "queued": OrmQ.objects.count(),
}}))
"""


def wait_for(
    check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.5,
    seen: Callable[[], Any] = lambda: "",
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {seen()}")


def shell_json(live: LiveCrossline, script: str) -> Any:
    """Run a script in `manage.py shell`; its last line of output, decoded."""
    for _ in range(6):
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=live.env,
            capture_output=True, text=True, timeout=300,
        )
        # mongoeco answers one request at a time: a new client may time out choosing it.
        if done.returncode == 0 or "No servers found yet" not in done.stderr:
            break
        time.sleep(5)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def api(live: LiveCrossline, token: str, path: str) -> dict:
    status, body = live.get_json(path, headers={"Authorization": f"Token {token}"})
    assert status == 200, (path, status, body)
    return body


def upload(live: LiveCrossline, token: str, path: Path, kind: str) -> dict:
    status, _, body = live.request(
        "POST", "/api/datasets/", fields={"kind": kind}, files={"file": path},
        headers={"Authorization": f"Token {token}"},
    )
    assert status == 202, body
    return body


def test_two_clusters_share_the_queue_and_survive_one_killed_mid_run(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    settings = {
        "CROSSLINE_RUN_STALE_SECONDS": str(STALE_SECONDS),
        "CROSSLINE_IMPORT_STALE_SECONDS": str(STALE_SECONDS),
        "CROSSLINE_HEARTBEAT_SECONDS": "2",
        "CROSSLINE_IMPORT_INLINE_BYTES": "0",  # every upload is imported by a worker
        "TMPDIR": str(scratch),
    }
    first = generate_demo_data(knrs=400, out_dir=tmp_path / "first", seed=5, tests_per_knr=25)
    second = generate_demo_data(knrs=150, out_dir=tmp_path / "second", seed=6,
                                tests_per_knr=25, first_knr_number=3_000_000)
    with running_crossline(tmp_path, env=settings) as live:
        token = live.token()
        shell_json(live, SLOW_PIPELINE)
        killed = live.start_worker()  # cluster A: it takes the run
        datasets = [upload(live, token, first[kind], kind) for kind in ("results", "defects")]
        for dataset in datasets:
            wait_for(lambda d=dataset: api(live, token, f"/api/datasets/{d['id']}/")["status"]
                     in ("ready", "failed"), timeout=120, what="the first imports")
        status, _, run = live.request("POST", "/api/train/", json_body={"pipeline": "slow"},
                                      headers={"Authorization": f"Token {token}"})
        assert status == 202, run

        def run_state() -> dict:
            return api(live, token, f"/api/training-runs/{run['id']}/")

        wait_for(lambda: run_state()["status"] == "running", timeout=60,
                 what="cluster A running the run", seen=run_state)

        # Cluster B, as on a second host; then imports and small tasks for both to share.
        live.processes["worker-b"] = _spawn(["manage.py", "qcluster"], live.env,
                                            live.var_dir / "qcluster-b.log")
        small = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c",
             QUEUE_SMALL_TASKS.format(count=SMALL_TASKS)],
            cwd=ROOT, env=live.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        datasets += [upload(live, token, second[kind], kind) for kind in ("results", "defects")]
        out, err = small.communicate(timeout=300)
        assert small.returncode == 0, err[-3000:]
        queued = json.loads(out.strip().splitlines()[-1])

        wait_for(lambda: run_state()["current_step"] in ("train_models", "evaluate"),
                 timeout=240, every=0.1, what="the run training on cluster A", seen=run_state)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        killed_at = time.monotonic()

        # Cluster B's reaper fails the run, hands back what A held, and B runs it.
        def settled():
            state = shell_json(live, END_STATE.format(pings=json.dumps(queued["pings"])))
            ran = run_state()
            done = state["pings_done"] == SMALL_TASKS and state["queued"] == 0
            finished = all(status in ("ready", "failed") for _, status, _, _ in state["datasets"])
            return (state, ran) if done and finished and ran["status"] == "failed" else None

        state, ran = wait_for(settled, timeout=STALE_SECONDS + 3 * REAPER_PERIOD,
                              what="the run failed and every task run", every=5)
        print(f"settled {time.monotonic() - killed_at:.0f} s after the kill")

    # The run ended once, failed by the reaper, and what it registered is gone.
    assert "no heartbeat" in ran["error"], ran
    assert ran["failed_step"] in ("train_models", "evaluate")
    assert not list(scratch.glob(f"crossline-run-{run['id']}-*"))
    names = [name for name, _ in state["versions"]]
    assert len(names) == len(set(names)), names
    assert str(run["id"]) not in {run_id for _, run_id in state["versions"]}
    # Every import ended once: ready, or failed with nothing of it left.
    assert len(state["datasets"]) == len(datasets)
    for pk, status, records, has_file in state["datasets"]:
        assert status == "ready" or (records, has_file) == (0, False), (pk, status)
    assert [status for _, status, _, _ in state["datasets"]].count("ready") == len(datasets)
    # Every small task ran (a ping has no effect: a second run of one would be harmless).
    assert state["pings_done"] == SMALL_TASKS
    # The reaper acted once per period: three copies of one period, and the schedule's own.
    periods = Counter(
        reap.split(": ", 1)[0] for reap in state["reaps"] if "reaped by another copy" not in reap
    )
    assert all(count == 1 for count in periods.values()), state["reaps"]
    copies = [reap for reap in state["reaps"] if reap.startswith(f"period {queued['period']}")]
    assert len(copies) == 3 and sum("another copy" in c for c in copies) == 2, copies
    assert any("1 stale runs failed" in reap for reap in state["reaps"]), state["reaps"]
