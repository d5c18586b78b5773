"""`make bench`: import, training and prediction at plant sizes, each beside its reference.

Sizes and shapes come from the environment (or the options):

    BENCH_SIZES=1M,5M,20M      result rows per data set (k and M suffixes)
    BENCH_SHAPES=default,plant rows per vehicle: the generator's default (about 39) or the real
                               export's (about 800)
    BENCH_STEPS=parse,import,train,plain,predict,mongo_import   which measurements to run
    BENCH_REQUESTS=500         warm one-KNR requests timed per size
    BENCH_PLAIN_SIZES=1M,default:5M   data the plain reference runs on ([shape:]size; bare: all)
    BENCH_PREDICT_SIZES=default:1M,default:20M   data prediction latency is measured on
    BENCH_STEP_TIMEOUT=900     seconds after which a step is stopped and recorded as timed out
    BENCH_BUDGET=3300          seconds for the whole run: a step gets at most what is left

For every size and shape the data are generated once with `generate_demo_data` (the next data
set while this one's steps run), then every step runs in a process of its own (so that peak
memory is the step's own) on a throwaway SQLite database: pyarrow's parse of the same file (the
reader's limit), the import command's work (`import_dataset` of results and defects), `train
--wait`, the plain reference (`bench/plain_reference.py`) and one-KNR prediction over HTTP
(waitress, token auth). The MongoDB import (mongoeco) runs once, at BENCH_MONGO_ROWS rows. A
step that fails or times out is recorded in the table and the run goes on. Results go to
bench/results/latest.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STEPS = ("parse", "import", "train", "plain", "predict", "mongo_import")
SHAPES = {"default": 40, "plant": 800}  # tests_per_knr given to the generator
MONGO_PATIENCE_MS = 600_000
# Where the references and prediction run ([shape:]size; a bare size means every shape).
PLAIN_SIZES = "1M,default:5M"
PREDICT_SIZES = "default:1M,default:20M"
STEP_TIMEOUT = 900  # seconds
# The whole run's seconds: a step gets at most what is left, none when under MIN_STEP_S.
BUDGET = 55 * 60
MIN_STEP_S = 30


def parse_size(text: str) -> int:
    """`200k`, `1M`, `20M` or a plain number of rows."""
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def size_label(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows / 1e3:g}k"


# --- measurements inside a step's own process ---------------------------------------------


class Meter:
    """Wall and CPU time of a step, and its peak resident memory sampled every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Meter:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.05)

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall, 2), "cpu_s": round(self.cpu, 2),
                "peak_mib": round(self.peak, 1)}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def step_parse(data: Path) -> dict[str, Any]:
    """pyarrow's streaming CSV reader over the same file: the reader's limit."""
    import pyarrow.csv as pcsv

    with Meter() as meter:
        rows = sum(batch.num_rows for batch in pcsv.open_csv(data / "results.csv.gz"))
    return {"rows": rows, **meter.as_dict()}


def patient_mongodb_uri(uri: str) -> str:
    """`uri` with timeouts for a server that answers nothing while it runs a long command."""
    # mongoeco serves every connection from one event loop: a command that holds it for more
    # than connectTimeoutMS (20 s by default) times out the driver's heartbeat, the server is
    # marked unknown, and the import's next query fails after serverSelectionTimeoutMS.
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}connectTimeoutMS={MONGO_PATIENCE_MS}"


def step_import(data: Path) -> dict[str, Any]:
    """`import_dataset` of the results then the defects, on an empty database."""
    if os.environ.get("MONGODB_URI"):
        os.environ["MONGODB_URI"] = patient_mongodb_uri(os.environ["MONGODB_URI"])
    setup_django()
    from plant.imports import import_dataset
    from plant.models import Vehicle
    from plant.selectors import get_vehicle_detail

    with Meter() as meter:
        results = import_dataset(path=data / "results.csv.gz", original_name="results.csv.gz",
                                 kind="results")
    with Meter() as defects_meter:
        defects = import_dataset(path=data / "defects.csv", original_name="defects.csv",
                                 kind="defects")
    knrs = list(Vehicle.objects.order_by("knr").values_list("knr", flat=True))
    pages = []
    for knr in knrs[:: max(1, len(knrs) // 20)]:
        started = time.perf_counter()
        get_vehicle_detail(knr)
        pages.append(time.perf_counter() - started)
    database = Path(os.environ["CROSSLINE_VAR_DIR"]) / "crossline.sqlite3"
    return {
        "rows": results.rows_read,
        "knrs": results.knr_count,
        **meter.as_dict(),
        "defect_rows": defects.rows_read,
        "defects_wall_s": round(defects_meter.wall, 2),
        "vehicle_page_ms": round(max(pages) * 1000, 1),
        "database_mib": round(database.stat().st_size / 1024**2, 1) if database.exists() else None,
    }


def step_train(data: Path) -> dict[str, Any]:
    """`train --wait` on the imported data; each kind's PR-AUC on the run's test set."""
    setup_django()
    from io import StringIO

    from django.core.management import call_command

    from mlmodels.models import ModelVersion
    from training.models import TrainingRun

    with Meter() as meter:
        call_command("train", wait=True, stdout=StringIO())
    run = TrainingRun.objects.latest("created_at")
    quality = {kind: round(m["pr_auc"], 4) for kind, m in run.metrics.items()
               if m.get("pr_auc") is not None}
    # Which candidate each kind kept (trees or sparse logistic), for reading PR-AUC and time.
    chosen = {v.type_model: v.estimator for v in ModelVersion.objects.filter(training_run=run)}
    return {"status": run.status, **meter.as_dict(), "pr_auc": quality, "estimators": chosen}


def step_plain(data: Path) -> dict[str, Any]:
    """The plain approach (bench/plain_reference.py) on the same exports, with truth's PR-AUC."""
    sys.path.insert(0, str(ROOT))
    import pandas as pd
    from sklearn.metrics import average_precision_score

    from bench.plain_reference import plain_reference
    from plant.readers.report import ValidationReport
    from plant.readers.sniff import sniff_export
    from plant.readers.validation import iter_clean_chunks

    frames = {}
    for kind, name in (("results", "results.csv.gz"), ("defects", "defects.csv")):
        report = ValidationReport(kind=kind, filename=name)
        frames[kind] = pd.concat(
            iter_clean_chunks(sniff_export(data / name, filename=name, kind=kind), report=report),
            ignore_index=True,
        )
    truth = pd.read_csv(data / "truth.csv", dtype={"KNR": str}).set_index("KNR")
    with Meter() as meter:
        outcome = plain_reference(frames["results"], frames["defects"])
    quality, truth_quality = {}, {}
    for kind, entry in outcome["kinds"].items():
        if not sum(entry["y_true"]):
            continue
        quality[kind] = round(float(average_precision_score(entry["y_true"], entry["scores"])), 4)
        column = "p_fail" if kind == "fail" else f"p_{kind.removeprefix('group_')}"
        probabilities = truth[column].reindex(list(entry["knrs"])).fillna(0.0)
        truth_quality[kind] = round(
            float(average_precision_score(entry["y_true"], probabilities)), 4
        )
    return {**meter.as_dict(), "pr_auc": quality, "truth_pr_auc": truth_quality}


def step_predict(data: Path, requests: int) -> dict[str, Any]:
    """One-KNR `POST /api/predictions/` over HTTP (waitress, keep-alive), cold then warm."""
    setup_django()
    import http.client

    from django.contrib.auth import get_user_model
    from django.core.wsgi import get_wsgi_application
    from rest_framework.authtoken.models import Token
    from waitress.server import create_server

    from plant.models import Vehicle
    from predictions.services import predict_knrs

    user = get_user_model().objects.create_user("bench", password="bench-pass", is_staff=True)
    token = Token.objects.create(user=user).key
    knrs = list(Vehicle.objects.order_by("knr").values_list("knr", flat=True))
    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=2)
    threading.Thread(target=server.run, daemon=True).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    cpu: list[float] = []

    def predict(knr: str) -> float:
        # Server and client share this process: its CPU time is the request's whole cost,
        # whatever else the machine is running.
        started, started_cpu = time.perf_counter(), time.process_time()
        connection.request("POST", "/api/predictions/", json.dumps({"KNR": knr}), headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 201:
            raise RuntimeError(f"{response.status}: {body[:300]!r}")
        cpu.append(time.process_time() - started_cpu)
        return time.perf_counter() - started

    cold = predict(knrs[0])  # the first request of the process loads the active models
    cold_cpu = cpu.pop()
    timings = [predict(knrs[(i * 7919) % len(knrs)]) for i in range(requests)]
    ordered = sorted(timings)
    ordered_cpu = sorted(cpu)
    batch = knrs[: min(len(knrs), 5_000)]
    with Meter() as meter:
        predict_knrs(knrs=batch)
    server.close()
    return {
        "knrs_stored": len(knrs),
        "cold_ms": round(cold * 1000, 1),
        "cold_cpu_ms": round(cold_cpu * 1000, 1),
        "p50_cpu_ms": round(statistics.median(cpu) * 1000, 1),
        "p99_cpu_ms": round(ordered_cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))] * 1000, 1),
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "requests": requests,
        "batch_knrs": len(batch),
        "batch_knrs_per_s": round(len(batch) / meter.wall),
        "peak_mib": round(rss_mib(), 1),
    }


# --- the driver ---------------------------------------------------------------------------


def generate(rows: int, shape: str, out: Path) -> dict[str, Any]:
    """Demo exports of about `rows` result rows at the shape's rows per vehicle."""
    sys.path.insert(0, str(ROOT))
    import gzip

    from plant.demo import generate_demo_data

    probe = generate_demo_data(knrs=100, out_dir=out / "probe", seed=1,
                               tests_per_knr=SHAPES[shape])
    with gzip.open(probe["results"], "rt") as handle:
        per_knr = (sum(1 for _ in handle) - 1) / 100
    knrs = max(1, round(rows / per_knr))
    started, started_cpu = time.perf_counter(), time.thread_time()
    generate_demo_data(knrs=knrs, out_dir=out, seed=7, tests_per_knr=SHAPES[shape])
    return {"knrs": knrs, "generate_s": round(time.perf_counter() - started, 1),
            "generate_cpu_s": round(time.thread_time() - started_cpu, 1)}


def run_step(step: str, data: Path, var: Path, *extra: str, mongo: bool = False,
             timeout: float | None = None) -> dict:
    """Run one step in a fresh process; its last output line is its JSON result.

    A failure or a step still running after `timeout` seconds is recorded, never raised.
    """
    env = {**os.environ, "CROSSLINE_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE":
           "crossline.settings", "PYTHONPATH": str(ROOT)}
    # Production settings (DEBUG off) need a key: a throwaway one for a throwaway database.
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    env.pop("MONGODB_URI", None)
    # A temporary folder of the step's own: an import's scratch folder is named after its
    # dataset's number, and any other crossline process reaping its own dataset 1 would remove
    # this database's dataset 1's folder from a shared /tmp mid-import.
    env["TMPDIR"] = str(var / "tmp")
    (var / "tmp").mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__)), "--step", step, "--data", str(data), *extra]
    if mongo:
        command = [sys.executable, "-m", "tests.support.with_mongoeco", *command]
    started = time.perf_counter()
    # A session of its own: a timed-out step is stopped with every process it started
    # (the mongoeco server, django-q2's workers).
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        error = f"timed out after {timeout:.0f} s"
        print(f"  {step}: {error}", flush=True)
        return {"error": error, "wall_s": round(time.perf_counter() - started, 1)}
    lines = stdout.strip().splitlines()
    try:
        if process.returncode != 0:
            raise ValueError
        result = json.loads(lines[-1])
    except (ValueError, IndexError):
        error = (stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
        print(f"  {step}: FAILED ({error})", flush=True)
        return {"error": error, "wall_s": round(time.perf_counter() - started, 1)}
    # The whole process (start-up, loading, the measured work): what the run's length is made of.
    result["process_s"] = round(time.perf_counter() - started, 1)
    print(f"  {step}: {json.dumps(result)}", flush=True)
    return result


def wanted(step: str, shape: str, size: int, only: dict[str, set[tuple[str, int]]]) -> bool:
    """Whether `step` runs on this data: every step does unless its env var names sizes."""
    return step not in only or (shape, size) in only[step]


def parse_targets(text: str) -> set[tuple[str, int]]:
    """`1M,default:20M` → {("default", 1M), ("plant", 1M), ("default", 20M)}."""
    targets = set()
    for item in (t.strip() for t in text.split(",") if t.strip()):
        shape, _, size = item.rpartition(":")
        for one in [shape] if shape else list(SHAPES):
            targets.add((one, parse_size(size)))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "1M,5M,20M"))
    parser.add_argument("--shapes", default=os.environ.get("BENCH_SHAPES", "default,plant"))
    parser.add_argument("--steps", default=os.environ.get("BENCH_STEPS", ",".join(STEPS)))
    parser.add_argument("--requests", type=int,
                        default=int(os.environ.get("BENCH_REQUESTS", "500")))
    parser.add_argument("--mongo-rows", default=os.environ.get("BENCH_MONGO_ROWS", "200k"))
    parser.add_argument("--plain-sizes", default=os.environ.get("BENCH_PLAIN_SIZES", PLAIN_SIZES),
                        help="Data the plain reference runs on ([shape:]size, ...).")
    parser.add_argument("--predict-sizes",
                        default=os.environ.get("BENCH_PREDICT_SIZES", PREDICT_SIZES),
                        help="Data prediction latency is measured on ([shape:]size, ...).")
    parser.add_argument("--step-timeout", type=float,
                        default=float(os.environ.get("BENCH_STEP_TIMEOUT", STEP_TIMEOUT)),
                        help="Seconds after which a step is stopped and recorded as timed out.")
    parser.add_argument("--budget", type=float,
                        default=float(os.environ.get("BENCH_BUDGET", BUDGET)),
                        help="Seconds for the whole run: later steps get what is left.")
    parser.add_argument("--out", default=os.environ.get("BENCH_OUT", "latest"),
                        help="Name of the result files in bench/results/.")
    parser.add_argument("--render", help="Rewrite bench/results/<name>.md from its .json.")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.render:
        data = json.loads((RESULTS / f"{args.render}.json").read_text())
        write_results(data["runs"], time.perf_counter(), args.render, meta=data["meta"])
        return
    if args.step:
        if args.step == "predict":
            result = step_predict(args.data, args.requests)
        elif args.step == "mongo_import":
            result = step_import(args.data)
        else:
            result = globals()[f"step_{args.step}"](args.data)
        print(json.dumps(result))
        return

    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    only = {"plain": parse_targets(args.plain_sizes), "predict": parse_targets(args.predict_sizes)}
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    targets = [(shape.strip(), parse_size(size))
               for shape in args.shapes.split(",") if shape.strip()
               for size in args.sizes.split(",") if size.strip()]
    with (tempfile.TemporaryDirectory(prefix="crossline-bench-") as tmp,
          ThreadPoolExecutor(max_workers=1) as generator):
        # The next data set is generated while this one's steps run: they use one core.
        def start(i: int) -> Future | None:
            if i >= len(targets):
                return None
            shape, size = targets[i]
            return generator.submit(generate, size, shape, Path(tmp) / f"{shape}-{size}")

        def measure(step: str, data: Path, var: Path, *extra: str, mongo: bool = False) -> dict:
            left = args.budget - (time.perf_counter() - started)
            if left < MIN_STEP_S:
                print(f"  {step}: skipped (the run's {args.budget:.0f} s are spent)", flush=True)
                return {"error": f"skipped: the run's {args.budget:.0f} s were spent"}
            return run_step(step, data, var, *extra, mongo=mongo,
                            timeout=min(args.step_timeout, left))

        upcoming = start(0)
        # The MongoDB import first: small, and the one figure on the second database.
        if "mongo_import" in steps:
            size = parse_size(args.mongo_rows)
            data = Path(tmp) / f"mongo-{size}"
            print(f"MongoDB (mongoeco) import, {size_label(size)} rows: generating", flush=True)
            run = {"shape": "default", "size": size, "database": "mongodb"}
            try:
                run.update(generate(size, "default", data))
            except Exception as exc:  # recorded in the table; the run goes on
                run["generate"] = {"error": f"generating failed: {exc!r}"}
            else:
                run["mongo_import"] = measure("mongo_import", data, Path(tmp) / "var-mongo",
                                              mongo=True)
            runs.append(run)
        for i, (shape, size) in enumerate(targets):
            data = Path(tmp) / f"{shape}-{size}"
            var = Path(tmp) / f"var-{shape}-{size}"
            print(f"{shape} shape, {size_label(size)} rows: generating", flush=True)
            run: dict[str, Any] = {"shape": shape, "size": size}
            try:
                run.update(upcoming.result())
            except Exception as exc:  # recorded in the table; the other sizes still run
                run["generate"] = {"error": f"generating failed: {exc!r}"}
                print(f"  generate: FAILED ({exc!r})", flush=True)
            upcoming = start(i + 1)
            if "generate" not in run:
                for step in steps:
                    if step == "mongo_import" or not wanted(step, shape, size, only):
                        continue
                    extra = ("--requests", str(args.requests)) if step == "predict" else ()
                    run[step] = measure(step, data, var, *extra)
            runs.append(run)
            write_results(runs, started, args.out)
            subprocess.run(["rm", "-rf", str(data), str(var)], check=False)
    write_results(runs, started, args.out)


def growth(runs: list[dict[str, Any]]) -> list[str]:
    """Per shape and step, smallest to largest size: the rows' ratio against the time's."""
    lines = []
    for shape in dict.fromkeys(r["shape"] for r in runs if r.get("database") != "mongodb"):
        sized = sorted((r for r in runs if r["shape"] == shape and r.get("database") != "mongodb"),
                       key=lambda r: r["size"])
        parts = []
        for step in ("parse", "import", "train", "plain", "predict"):
            done = [r for r in sized if "error" not in r.get(step, {"error": ""})]
            if len(done) < 2:
                continue
            small, large = done[0], done[-1]
            if step == "predict":
                a, b = small[step]["p50_cpu_ms"], large[step]["p50_cpu_ms"]
                what = "p50 CPU per request"
            else:
                a, b = small[step]["cpu_s"], large[step]["cpu_s"]
                what = f"wall {ratio(large[step]['wall_s'], small[step]['wall_s']) or 'n/a'}, CPU"
            rows = large["size"] / small["size"]
            span = f"{size_label(small['size'])} → {size_label(large['size'])}"
            times = ratio(b, a) or "n/a"
            parts.append(f"{step} {what} {times} for {rows:.1f}× the rows ({span})")
        if parts:
            lines.append(f"Growth at the {shape} shape: " + "; ".join(parts) + ".")
    return lines


def ratio(value: float | None, reference: float | None) -> str:
    if not value or not reference:
        return ""
    return f"{value / reference:.2f}×"


def write_results(
    runs: list[dict[str, Any]], started: float, out: str, meta: dict | None = None
) -> None:
    """bench/results/<out>.json and the Markdown table <out>.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = meta or {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": os.getloadavg(),
        "total_s": round(time.perf_counter() - started),
    }
    (RESULTS / f"{out}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    lines = [
        f"# `make bench`: {out}",
        "",
        f"{meta['machine']}, Python {meta['python']}, {meta['date']}, load average at the end "
        f"{meta['load_average'][0]:.1f} (the machine is shared: wall times include waiting for "
        "a core; CPU time is the process's own). Each step ran in a process of its own on a "
        "throwaway SQLite database; ratios are to the reference named in the row.",
        "",
        "| data | step | rows | KNRs | wall s | CPU s | peak MiB | rate | reference | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        label = f"{size_label(run['size'])} {run['shape']}"
        if run.get("database") == "mongodb":
            label += " (MongoDB)"
        if "error" in run.get("generate", {}):
            lines.append(f"| {label} | generate | | | | | | {run['generate']['error'][:80]} | | |")
        parse = run.get("parse", {})
        parse_rate = parse["rows"] / parse["wall_s"] if parse.get("wall_s") else None
        for step in STEPS:
            result = run.get(step)
            if result is None:
                continue
            if "error" in result:
                error = result["error"]
                if not error.startswith(("skipped", "timed out")):
                    error = f"failed: {error}"
                lines.append(f"| {label} | {step} | | | | | | {error[:90]} | | |")
                continue
            rows = result.get("rows", "")
            rate, reference, versus = "", "", ""
            if step in ("import", "mongo_import"):
                rate_value = result["rows"] / result["wall_s"]
                cpu_rate = result["rows"] / result["cpu_s"]
                rate = f"{rate_value:,.0f} rows/s ({cpu_rate:,.0f}/CPU s)"
                if parse_rate and step == "import":
                    parse_cpu_rate = parse["rows"] / parse["cpu_s"]
                    reference = (f"pyarrow parse {parse_rate:,.0f} rows/s "
                                 f"({parse_cpu_rate:,.0f}/CPU s)")
                    cpu_ratio = ratio(cpu_rate, parse_cpu_rate)
                    versus = f"{ratio(rate_value, parse_rate)} (CPU {cpu_ratio})"
            elif step == "parse":
                rate = f"{parse_rate:,.0f} rows/s"
            elif step == "train":
                plain = run.get("plain", {})
                rate = "PR-AUC " + ", ".join(f"{k} {v:.3f}" for k, v in result["pr_auc"].items()
                                             if k == "fail")
                if plain.get("wall_s"):
                    reference = f"plain {plain['wall_s']:.0f} s ({plain['cpu_s']:.0f} CPU s)"
                    versus = (f"{ratio(result['wall_s'], plain['wall_s'])} "
                              f"(CPU {ratio(result['cpu_s'], plain['cpu_s'])})")
                    fail = plain.get("pr_auc", {}).get("fail")
                    if fail and result["pr_auc"].get("fail"):
                        reference += f", PR-AUC fail {fail:.3f}"
                        versus += f"; quality {result['pr_auc']['fail'] / fail:.2f}×"
            elif step == "plain":
                truth = result.get("truth_pr_auc", {}).get("fail")
                mine = result.get("pr_auc", {}).get("fail")
                rate = f"PR-AUC fail {mine:.3f}" if mine else ""
                if truth:
                    reference = f"truth PR-AUC fail {truth:.3f}"
                    versus = ratio(mine, truth)
            elif step == "predict":
                cpu = (f" (CPU: p50 {result['p50_cpu_ms']} ms, p99 {result['p99_cpu_ms']} ms, "
                       f"cold {result['cold_cpu_ms']} ms)" if "p50_cpu_ms" in result else "")
                rate = (f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, cold "
                        f"{result['cold_ms']} ms{cpu}; batch {result['batch_knrs_per_s']:,} KNRs/s")
                rows = ""
            knrs = result.get("knrs", run.get("knrs"))
            rows_text = f"{rows:,}" if isinstance(rows, int) else ""
            knrs_text = f"{knrs:,}" if isinstance(knrs, int) else ""
            lines.append(
                f"| {label} | {step} | {rows_text} | {knrs_text} | {result.get('wall_s', '')} | "
                f"{result.get('cpu_s', '')} | {result.get('peak_mib', '')} | {rate} | "
                f"{reference} | {versus} |"
            )
    lines += ["", *growth(runs), "",
              f"Whole run: {meta['total_s']:,} s. Per-kind PR-AUC and every other figure: "
              f"`bench/results/{out}.json`.", ""]
    (RESULTS / f"{out}.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
