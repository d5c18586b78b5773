"""`make bench`: import, training and prediction at plant sizes, each beside its reference.

Sizes and shapes come from the environment (or the options):

    BENCH_SIZES=1M,5M,20M,plant:40M   result rows per data set ([shape:]size, k and M suffixes;
                               a bare size is measured at every shape of BENCH_SHAPES)
    BENCH_SHAPES=default,plant rows per vehicle: the generator's default (about 39) or the real
                               export's (about 800)
    BENCH_STEPS=parse,import,train,plain,predict,mongo_import   which measurements to run
    BENCH_REQUESTS=500         warm one-KNR requests timed per size
    BENCH_PLAIN_SIZES=1M,default:5M   data the plain reference runs on ([shape:]size; bare: all)
    BENCH_PREDICT_SIZES=default:1M,default:20M,plant:1M,plant:40M   data prediction latency
                               is measured on
    BENCH_STEP_TIMEOUT=900     seconds after which a step on up to 20M rows is stopped and
                               recorded as timed out (proportionally more above: 1,800 at 40M)
    BENCH_BUDGET=9000          seconds for the whole run: a step gets at most what is left

For every size and shape the data are generated with `generate_demo_data` (before its steps,
never during them: the import and pyarrow's parse use both cores), then every step runs in a
process of its own (`bench/steps.py`: so that peak memory is the step's own) on a throwaway
SQLite database: pyarrow's parse of the same file (the reader's limit), the `import_data`
command on the results then the defects (and the admin's vehicle page and one KNR's stored
rows on what it imported), `train --wait`, the plain reference (`bench/plain_reference.py`)
and one-KNR prediction over HTTP (waitress, token auth) with a batch from the stored results.
The MongoDB import (mongoeco) runs once, at BENCH_MONGO_ROWS rows. A step that fails or times
out is recorded in the table and the run goes on. Results go to bench/results/latest.json and
latest.md (`bench/report.py`, with the targets of the plant-scale work).

Disk and memory at the largest default (40M plant-shape rows, about 51,000 vehicles): the
export is about 0.65 GB gzip'd, the throwaway database and stored Parquet about 4 GB; each data
set's files are removed before the next is generated.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import steps  # noqa: E402
from bench.report import STEPS, size_label, write_results  # noqa: E402

SHAPES = {"default": 40, "plant": 800}  # tests_per_knr given to the generator
SIZES = "1M,5M,20M,plant:40M"
# Where the references and prediction run ([shape:]size; a bare size means every shape).
PLAIN_SIZES = "1M,default:5M"
PREDICT_SIZES = "default:1M,default:20M,plant:1M,plant:40M"
STEP_TIMEOUT = 900  # seconds, for data of up to TIMEOUT_ROWS rows
TIMEOUT_ROWS = 20_000_000
# The whole run's seconds: a step gets at most what is left, none when under MIN_STEP_S.
BUDGET = 150 * 60
MIN_STEP_S = 30


def parse_size(text: str) -> int:
    """`200k`, `1M`, `20M` or a plain number of rows."""
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def parse_targets(text: str, shapes: list[str] | None = None) -> list[tuple[str, int]]:
    """`1M,default:20M` → [("default", 1M), ("plant", 1M), ("default", 20M)], in that order."""
    every = shapes if shapes is not None else list(SHAPES)
    targets: dict[tuple[str, int], None] = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        shape, _, size = item.rpartition(":")
        for one in [shape] if shape else every:
            targets[(one, parse_size(size))] = None
    return list(targets)


def step_timeout(seconds: float, rows: int) -> float:
    """A step's timeout: `seconds` up to TIMEOUT_ROWS rows, growing with the rows beyond."""
    return seconds * max(1.0, rows / TIMEOUT_ROWS)


def generate(rows: int, shape: str, out: Path) -> dict[str, Any]:
    """Demo exports of about `rows` result rows at the shape's rows per vehicle."""
    import gzip

    from plant.demo import generate_demo_data

    probe = generate_demo_data(knrs=100, out_dir=out / "probe", seed=1,
                               tests_per_knr=SHAPES[shape])
    with gzip.open(probe["results"], "rt") as handle:
        per_knr = (sum(1 for _ in handle) - 1) / 100
    knrs = max(1, round(rows / per_knr))
    # The driver does nothing else meanwhile: its CPU time is the generator's (both threads).
    started, started_cpu = time.perf_counter(), time.process_time()
    generate_demo_data(knrs=knrs, out_dir=out, seed=7, tests_per_knr=SHAPES[shape])
    return {"knrs": knrs, "generate_s": round(time.perf_counter() - started, 1),
            "generate_cpu_s": round(time.process_time() - started_cpu, 1)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", SIZES))
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
                        help="Seconds after which a step on up to 20M rows is stopped.")
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
        data = json.loads((Path(ROOT / "bench/results") / f"{args.render}.json").read_text())
        write_results(data["runs"], time.perf_counter(), args.render, meta=data["meta"])
        return
    if args.step:
        if args.step == "predict":
            result = steps.step_predict(args.data, args.requests)
        elif args.step == "mongo_import":
            result = steps.step_import(args.data)
        else:
            result = getattr(steps, f"step_{args.step}")(args.data)
        print(json.dumps(result))
        return

    shapes = [shape.strip() for shape in args.shapes.split(",") if shape.strip()]
    chosen = [s.strip() for s in args.steps.split(",") if s.strip()]
    only = {"plain": set(parse_targets(args.plain_sizes)),
            "predict": set(parse_targets(args.predict_sizes))}
    sized = parse_targets(args.sizes, shapes)
    # Shape by shape, smallest first: the largest data set's steps come last.
    targets = [(shape, size) for shape in shapes
               for size in sorted(s for one, s in sized if one == shape)]
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="crossline-bench-") as tmp:

        def measure(step: str, data: Path, var: Path, rows: int, *extra: str,
                    mongo: bool = False) -> dict:
            left = args.budget - (time.perf_counter() - started)
            if left < MIN_STEP_S:
                print(f"  {step}: skipped (the run's {args.budget:.0f} s are spent)", flush=True)
                return {"error": f"skipped: the run's {args.budget:.0f} s were spent"}
            return run_step(step, data, var, *extra, mongo=mongo,
                            timeout=min(step_timeout(args.step_timeout, rows), left))

        def generated(run: dict[str, Any], rows: int, shape: str, data: Path) -> bool:
            print(f"{run['shape']} shape, {size_label(rows)} rows: generating", flush=True)
            try:
                run.update(generate(rows, shape, data))
            except Exception as exc:  # recorded in the table; the run goes on
                run["generate"] = {"error": f"generating failed: {exc!r}"}
                print(f"  generate: FAILED ({exc!r})", flush=True)
                return False
            return True

        # The MongoDB import first: small, and the one figure on the second database.
        if "mongo_import" in chosen:
            size = parse_size(args.mongo_rows)
            data = Path(tmp) / f"mongo-{size}"
            run = {"shape": "default", "size": size, "database": "mongodb"}
            if generated(run, size, "default", data):
                run["mongo_import"] = measure("mongo_import", data, Path(tmp) / "var-mongo",
                                              size, mongo=True)
            runs.append(run)
            subprocess.run(["rm", "-rf", str(data), str(Path(tmp) / "var-mongo")], check=False)
        for shape, size in targets:
            data = Path(tmp) / f"{shape}-{size}"
            var = Path(tmp) / f"var-{shape}-{size}"
            run: dict[str, Any] = {"shape": shape, "size": size}
            if generated(run, size, shape, data):
                for step in chosen:
                    if step == "mongo_import" or not wanted(step, shape, size, only):
                        continue
                    extra = ("--requests", str(args.requests)) if step == "predict" else ()
                    run[step] = measure(step, data, var, size, *extra)
            runs.append(run)
            write_results(runs, started, args.out)
            subprocess.run(["rm", "-rf", str(data), str(var)], check=False)
    write_results(runs, started, args.out)


if __name__ == "__main__":
    main()
