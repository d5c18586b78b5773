"""Benchmark: django-q2's brokers with two worker clusters on one MongoDB database.

    .venv/bin/python -m tests.support.with_mongoeco .venv/bin/python bench/task_brokers.py \
        [--brokers orm,orm-stock,mongo] [--tasks 200] [--spaced 50] [--kill-tasks 60]

For each broker (bench/broker_settings.py): a fresh database on the mongoeco server, migrated
and bootstrapped (the reaper's schedule), and two `manage.py qcluster` clusters of one worker
each, as on two hosts. Then
1. throughput: `--tasks` small tasks queued before the clusters start; tasks per second from
   the first start to the last finish, and how many ran twice;
2. latency: `--spaced` small tasks queued one every 0.2 s to idle clusters; the wait from
   queueing to start (p50, p95, max);
3. a killed cluster: `--kill-tasks` tasks of 0.5 s; once 10 have run, one cluster is SIGKILLed
   (its whole process group): how many ran, how many twice, and when the last one started.
The clusters run with CROSSLINE_RUN_STALE_SECONDS=10 and CROSSLINE_HEARTBEAT_SECONDS=2, so
that the reaper may hand back the tasks a dead cluster held within the run. Results:
bench/results/task_brokers.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KILL_AFTER = 10
KILL_TASK_SECONDS = 0.5
WAIT_AFTER_KILL = 240
CLUSTER_SETTINGS = {"CROSSLINE_RUN_STALE_SECONDS": "10", "CROSSLINE_HEARTBEAT_SECONDS": "2"}


def environment(broker: str, uri: str, var: Path) -> dict[str, str]:
    base, _, query = uri.partition("?")
    name = f"brokers_{broker.replace('-', '_')}_{secrets.token_hex(3)}"
    return {
        **os.environ,
        **CLUSTER_SETTINGS,
        "BENCH_BROKER": broker,
        "DJANGO_SETTINGS_MODULE": "bench.broker_settings",
        "PYTHONPATH": str(ROOT),
        "MONGODB_URI": f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else ""),
        "CROSSLINE_VAR_DIR": str(var),
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        "CROSSLINE_WORKERS": "1",
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=600)


def start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def enqueue(
    env: dict[str, str], count: int, log: Path, seconds: float, *, spacing: float = 0.0
) -> float:
    """Queue `count` probe tasks from a process configured like the clusters; tasks queued per
    second (Django's start-up left out)."""
    code = (
        "import time, django; django.setup()\n"
        "from django_q.tasks import async_task\n"
        "began = time.perf_counter()\n"
        f"for i in range({count}):\n"
        f"    async_task('bench.broker_probe.record', i, time.time(), {str(log)!r}, {seconds})\n"
        f"    time.sleep({spacing})\n"
        f"print({count} / (time.perf_counter() - began - {count * spacing}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                          timeout=600, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def executions(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        index, queued, started, finished, pid, parent = line.split()
        rows.append({"index": int(index), "queued": float(queued), "started": float(started),
                     "finished": float(finished), "pid": int(pid), "parent": int(parent)})
    return rows


def wait_for(log: Path, indexes: set[int], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = executions(log)
        if indexes <= {r["index"] for r in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(broker: str, uri: str, tasks: int, spaced: int, kill_tasks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crossline-brokers-") as tmp:
        var = Path(tmp)
        env = environment(broker, uri, var)
        manage(env, "migrate", "--noinput")
        manage(env, "bootstrap")
        log = var / "throughput.log"
        queued_per_second = enqueue(env, tasks, log, 0.0)
        clusters = [start_cluster(env, var / f"cluster-{n}.log") for n in (1, 2)]
        try:
            rows = wait_for(log, set(range(tasks)), 600)
            done = {r["index"] for r in rows}
            drain = max(r["finished"] for r in rows) - min(r["started"] for r in rows)
            result = {
                "broker": broker,
                "queued_per_second": round(queued_per_second, 1),
                "ran": len(done),
                "tasks_per_second": round(len(done) / drain, 1),
                "twice": len(rows) - len(done),
                "clusters": len({r["parent"] for r in rows}),
                **latency(env, var / "latency.log", spaced),
                **(kill_one(env, var / "kill.log", kill_tasks, clusters[0]) if kill_tasks else {}),
            }
            return result
        finally:
            for cluster in clusters:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait()


def latency(env: dict[str, str], log: Path, tasks: int) -> dict[str, Any]:
    enqueue(env, tasks, log, 0.0, spacing=0.2)
    rows = wait_for(log, set(range(tasks)), 300)
    waits = [r["started"] - r["queued"] for r in rows]
    return {
        "wait_p50": round(percentile(waits, 0.5), 2),
        "wait_p95": round(percentile(waits, 0.95), 2),
        "wait_max": round(max(waits), 2),
        "latency_twice": len(rows) - len({r["index"] for r in rows}),
    }


def kill_one(
    env: dict[str, str], log: Path, tasks: int, victim: subprocess.Popen
) -> dict[str, Any]:
    enqueue(env, tasks, log, KILL_TASK_SECONDS)
    while len(executions(log)) < KILL_AFTER:
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    killed_at = time.time()
    victim.wait()
    rows = wait_for(log, set(range(tasks)), WAIT_AFTER_KILL)
    done = {r["index"] for r in rows}
    after = [r["started"] - killed_at for r in rows if r["started"] > killed_at]
    return {
        "kill_ran": len(done),
        "kill_missing": tasks - len(done),
        "kill_twice": len(rows) - len(done),
        "kill_last_start_seconds": round(max(after), 1) if after else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", type=str, default="orm,orm-stock,mongo",
                        help="Comma-separated: orm, orm-stock, mongo.")
    parser.add_argument("--tasks", type=int, default=200, help="Small tasks in part 1.")
    parser.add_argument("--spaced", type=int, default=50, help="Spaced small tasks in part 2.")
    parser.add_argument("--kill-tasks", type=int, default=60,
                        help="0.5 s tasks in part 3 (0: no part 3).")
    args = parser.parse_args()
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        parser.error("run it under tests.support.with_mongoeco (MONGODB_URI is not set)")
    results = []
    for broker in args.brokers.split(","):
        print(f"== {broker}", flush=True)
        results.append(measure(broker, uri, args.tasks, args.spaced, args.kill_tasks))
        print(json.dumps(results[-1]), flush=True)
    write_report(results, args)


def write_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    lines = [
        "# Task brokers: two worker clusters on one MongoDB database",
        "",
        f"`bench/task_brokers.py --brokers {args.brokers} --tasks {args.tasks} --spaced "
        f"{args.spaced} --kill-tasks {args.kill_tasks}` on mongoeco (loopback), "
        f"{platform.machine()}, {os.cpu_count()} cores shared with other work; two clusters "
        "of one worker each.",
        "",
        f"| broker | queued/s | {args.tasks} queued, then run: tasks/s | run twice "
        f"| {args.spaced} spaced 0.2 s: wait p50 / p95 / max s | {args.kill_tasks} × 0.5 s, one "
        f"cluster SIGKILLed after {KILL_AFTER}: ran | missing after {WAIT_AFTER_KILL} s "
        "| run twice | last start after the kill s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['broker']} | {r['queued_per_second']} | {r['tasks_per_second']} | "
            f"{r['twice'] + r['latency_twice']} | "
            f"{r['wait_p50']} / {r['wait_p95']} / {r['wait_max']} | "
            f"{r.get('kill_ran', '')} | {r.get('kill_missing', '')} | {r.get('kill_twice', '')} | "
            f"{r.get('kill_last_start_seconds', '')} |"
        )
    lines += [
        "",
        "`orm`: django-q2's ORM broker on crossline's MongoDB engine (its compare-and-set and "
        "acknowledgement are single-document writes); `orm-stock`: the same broker on "
        "django-mongodb-backend's engine as shipped (`update_many`, `delete_many`); `mongo`: "
        "django-q2's MongoDB broker (`find_one_and_update` on a collection of its own). The "
        "tasks a killed cluster had taken come back through crossline's reaper "
        "(`release_orphaned_tasks`, every minute) once nothing runs anywhere, which reads the "
        "ORM broker's table; the MongoDB broker's taken tasks come back after django-q2's "
        "`retry` (the task timeout + 600 s).",
    ]
    out = ROOT / "bench" / "results" / "task_brokers.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
