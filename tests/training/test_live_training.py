"""Training through crossline's real processes: the WSGI server, the worker, a SIGKILL."""

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from plant.demo import generate_demo_data
from tests.support.live_server import LiveCrossline, running_crossline

pytestmark = [pytest.mark.live, pytest.mark.slow]

QUICK_PIPELINE = """
import json
from training.models import PipelineDefinition
from training.pipeline.definition import PIPELINES_DIR
definition = json.loads((PIPELINES_DIR / "default.json").read_text())
definition["name"] = "quick"
definition["params"]["estimator"] = "logistic_regression"
PipelineDefinition.objects.create(name="quick", definition=definition)
"""


def add_quick_pipeline(live: LiveCrossline) -> None:
    live.manage("shell", "-c", QUICK_PIPELINE)


def import_demo(live: LiveCrossline, tmp_path: Path, knrs: int) -> None:
    files = generate_demo_data(knrs=knrs, out_dir=tmp_path / "demo", seed=5, tests_per_knr=25)
    live.manage("import_data", "--results", str(files["results"]), "--defects",
                str(files["defects"]))


def wait_for(predicate, *, timeout: float, every: float = 0.25, what: str = ""):
    """Poll until `predicate()` returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {what}")


def run_state(live: LiveCrossline, token: str, run_id) -> dict:
    status, body = live.get_json(f"/api/training-runs/{run_id}/", headers=auth(token))
    assert status == 200, body
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def test_train_and_retrain_answer_202_under_the_real_server_and_duplicates_409(tmp_path):
    files = generate_demo_data(knrs=150, out_dir=tmp_path / "demo", seed=2, tests_per_knr=20)
    with running_crossline(tmp_path) as live:
        add_quick_pipeline(live)
        token = live.token()
        for kind in ("results", "defects"):
            status, _, uploaded = live.request(
                "POST", "/api/datasets/", fields={"kind": kind}, files={"file": files[kind]},
                headers=auth(token),
            )
            assert status == 201, uploaded
        status, headers, body = live.request("POST", "/api/train/", headers=auth(token))
        assert status == 202, body
        assert body["status"] == "queued"
        location = headers["Location"]
        assert location == f"{live.url}/api/training-runs/{body['id']}/"
        assert live.get_json(location.removeprefix(live.url), headers=auth(token))[1]["id"] == (
            body["id"]
        )
        # A client retrying the same request gets 409 and queues nothing.
        for _ in range(4):
            status, _, refused = live.request("POST", "/api/train/", headers=auth(token))
            assert status == 409, refused
            assert "identical training run" in refused["detail"]
            assert f"run {body['id']} is queued" in refused["detail"]
        status, _, other = live.request(
            "POST", "/api/train/retrain/", json_body={"pipeline": "quick"}, headers=auth(token)
        )
        assert status == 202, other
        assert other["kind"] == "retrain"
        runs = live.get_json("/api/training-runs/", headers=auth(token))[1]
        assert runs["count"] == 2


def test_a_worker_killed_during_training_is_reaped_and_the_next_run_goes_on(tmp_path):
    stale = 4
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    settings = {
        "CROSSLINE_RUN_STALE_SECONDS": str(stale),
        "CROSSLINE_HEARTBEAT_SECONDS": "1",
        "TMPDIR": str(scratch),
    }
    with running_crossline(tmp_path, worker=True, env=settings) as live:
        import_demo(live, tmp_path, knrs=500)
        add_quick_pipeline(live)
        token = live.token()
        status, _, first = live.request("POST", "/api/train/", headers=auth(token))
        assert status == 202, first
        status, _, second = live.request(
            "POST", "/api/train/", json_body={"pipeline": "quick"}, headers=auth(token)
        )
        assert status == 202, second

        # Killed in the middle of training: past the loading steps, its local copies on disk.
        wait_for(
            lambda: run_state(live, token, first["id"])["current_step"]
            in ("train_models", "evaluate"),
            timeout=180,
            every=0.1,
            what="the first run reaching train_models",
        )
        left = list(scratch.rglob(f"crossline-run-{first['id']}-*"))
        assert left, "the run's temporary folder exists while it trains"
        worker = live.processes["worker"]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = time.monotonic()
        assert run_state(live, token, second["id"])["status"] == "queued"

        def stuck():
            status, body = live.get_json("/healthz")
            problems = " ".join(body.get("problems", []))
            return body if status == 503 and f"Training run {first['id']}" in problems else None

        health = wait_for(stuck, timeout=stale + 30, what="/healthz: 503 naming the stuck run")
        assert f"Training run {first['id']} is stuck" in " ".join(health["problems"])
        assert "held by a worker that stopped" in " ".join(health["problems"])
        assert [str(pk) for pk in health["training"]["stuck_runs"]] == [str(first["id"])]
        assert run_state(live, token, first["id"])["status"] == "running"

        live.start_worker()
        failed = wait_for(
            lambda: (s := run_state(live, token, first["id"]))["status"] == "failed" and s,
            timeout=stale + 90,
            what="the killed run failed by the reaper",
        )
        failed_after = time.monotonic() - killed_at
        assert "no heartbeat" in failed["error"]
        assert failed["failed_step"] in ("train_models", "evaluate")
        # The reaper marks the run failed first, then removes what it left.
        wait_for(
            lambda: not any(path.exists() for path in left),
            timeout=30,
            what="the killed run's temporary files removed",
        )
        versions = live.manage(
            "shell", "-c",
            "from mlmodels.models import ModelVersion; import json; print(json.dumps("
            f"ModelVersion.objects.filter(training_run_id={json.dumps(str(first['id']))})"
            ".count()))",
        ).stdout
        assert versions.strip().splitlines()[-1] == "0"

        done = wait_for(
            lambda: (s := run_state(live, token, second["id"]))["status"]
            in ("succeeded", "failed") and s,
            timeout=240,
            what="the queued run run by the new worker",
        )
        assert done["status"] == "succeeded", done
        status, health = live.get_json("/healthz")
        assert status == 200, health
        # Written for the report: how long the killed run stayed `running`.
        with contextlib.suppress(OSError):
            (tmp_path / "timing.txt").write_text(f"failed {failed_after:.1f} s after SIGKILL\n")
        print(f"killed run failed {failed_after:.1f} s after the SIGKILL")
