"""Benchmark: how long crossline takes to recover from a killed worker and to stop `make run`.

    .venv/bin/python bench/faults.py [--repeat 2] [--stale 10] [--heartbeat 2]

Each repetition starts crossline as `make run` does (tests/support/live_server.py), imports
400 demo vehicles, queues two training runs, SIGKILLs the worker cluster while the first is
training, starts a new worker, and times: the kill to `/healthz` 503, the kill to the run
failed by the reaper, the new worker's start to that failure, and the kill to the next run
running. Then `make run` itself (DEMO_KNRS=0) is stopped with SIGTERM and with SIGINT
(Ctrl-C) and the time until every process is gone is taken. Results: bench/results/faults.md.
"""

import argparse
import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")


def kill_during_training(stale: int, heartbeat: int) -> dict[str, float]:
    from tests.support.live_server import running_crossline
    from tests.training.test_live_training import (
        add_quick_pipeline,
        auth,
        import_demo,
        run_state,
        wait_for,
    )

    with tempfile.TemporaryDirectory(prefix="crossline-bench-") as tmp:
        tmp_path = Path(tmp)
        env = {
            "CROSSLINE_RUN_STALE_SECONDS": str(stale),
            "CROSSLINE_HEARTBEAT_SECONDS": str(heartbeat),
        }
        with running_crossline(tmp_path, worker=True, env=env) as live:
            import_demo(live, tmp_path, knrs=400)
            add_quick_pipeline(live)
            token = live.token()
            first = live.request("POST", "/api/train/", headers=auth(token))[2]
            second = live.request(
                "POST", "/api/train/", fields={"pipeline": "quick"}, headers=auth(token)
            )[2]
            wait_for(
                lambda: run_state(live, token, first["id"])["current_step"]
                in ("train_models", "evaluate"),
                timeout=300,
                every=0.1,
            )
            worker = live.processes["worker"]
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            killed = time.monotonic()
            wait_for(lambda: live.get_json("/healthz")[0] == 503, timeout=stale + 60, every=0.1)
            unhealthy = time.monotonic() - killed
            live.start_worker()
            started = time.monotonic()
            wait_for(
                lambda: run_state(live, token, first["id"])["status"] == "failed",
                timeout=stale + 120,
                every=0.1,
            )
            failed = time.monotonic()
            wait_for(
                lambda: run_state(live, token, second["id"])["status"] != "queued",
                timeout=300,
                every=0.1,
            )
            next_started = time.monotonic() - killed
            # Let it finish: stopping the instance mid-run would leave its temporary folder.
            wait_for(
                lambda: run_state(live, token, second["id"])["status"] in ("succeeded", "failed"),
                timeout=300,
            )
            return {
                "kill to /healthz 503 (s)": unhealthy,
                "kill to run failed (s)": failed - killed,
                "new worker start to run failed (s)": failed - started,
                "kill to next run started (s)": next_started,
            }


def stop_make_run(signum: int) -> float:
    from tests.crossline.test_make_run import alive, descendants, wait_for_cluster
    from tests.support.live_server import free_port, instance_environment

    with tempfile.TemporaryDirectory(prefix="crossline-bench-") as tmp:
        port = free_port()
        env = instance_environment(Path(tmp) / "var")
        env.pop("DJANGO_SECRET_KEY")
        env.update(DEMO_KNRS="0", ADDR=f"127.0.0.1:{port}")
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            processes = wait_for_cluster_serving(make.pid, port, wait_for_cluster)
            began = time.monotonic()
            os.killpg(make.pid, signum)
            while any(alive(pid) for pid in [make.pid, *processes]):
                time.sleep(0.05)
            return time.monotonic() - began
        finally:
            for pid in [make.pid, *descendants(make.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            make.wait()


def wait_for_cluster_serving(pid: int, port: int, wait_for_cluster) -> dict[int, str]:
    import urllib.request

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return wait_for_cluster(pid)
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("make run did not serve within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="Repetitions of each scenario.")
    parser.add_argument("--stale", type=int, default=10, help="CROSSLINE_RUN_STALE_SECONDS.")
    parser.add_argument("--heartbeat", type=int, default=2, help="CROSSLINE_HEARTBEAT_SECONDS.")
    args = parser.parse_args()

    kills = [kill_during_training(args.stale, args.heartbeat) for _ in range(args.repeat)]
    stops = {
        name: [stop_make_run(signum) for _ in range(args.repeat)]
        for name, signum in (("SIGTERM", signal.SIGTERM), ("Ctrl-C (SIGINT)", signal.SIGINT))
    }
    database = "MongoDB (mongoeco)" if os.environ.get("MONGODB_URI") else "SQLite"
    lines = [
        "# Faults: a worker SIGKILLed during training, and `make run` stopped",
        "",
        f"`bench/faults.py --repeat {args.repeat} --stale {args.stale} --heartbeat "
        f"{args.heartbeat}` on {database}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work. Median (min–max) of {args.repeat} runs.",
        "",
        "| measure | seconds |",
        "|---|---|",
    ]
    for key in kills[0]:
        values = [k[key] for k in kills]
        lines.append(
            f"| {key} | {statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f}) |"
        )
    for name, values in stops.items():
        lines.append(
            f"| `make run` stopped by {name}, every process gone (s) | "
            f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f}) |"
        )
    lines += [
        "",
        "The killed run stays `running` until its heartbeat is older than the stale period; "
        "a new worker reaps at start, the schedule every minute after. `make run` gives its "
        "processes 3 s after SIGTERM, then kills what is left.",
    ]
    out = ROOT / "bench" / "results" / "faults.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
