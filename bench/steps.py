"""`make bench`'s measurements, each run by `bench/run.py --step NAME` in a process of its own
(so that peak memory is the step's own) on the throwaway database in CROSSLINE_VAR_DIR."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MONGO_PATIENCE_MS = 600_000
# pyarrow's streaming reader as the reference reads a file: default conversions, 16 MiB blocks.
PARSE_BLOCK_BYTES = 16 * 1024 * 1024
# Vehicle pages and one-KNR reads timed per data set (spread over the KNRs), after a cold one.
PAGES = 40
BATCH_KNRS = 5_000


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def step_parse(data: Path) -> dict[str, Any]:
    """pyarrow's streaming CSV reader over the same file: the reader's limit."""
    import pyarrow.csv as pcsv

    options = pcsv.ReadOptions(block_size=PARSE_BLOCK_BYTES)
    with Meter() as meter:
        rows = sum(batch.num_rows
                   for batch in pcsv.open_csv(data / "results.csv.gz", read_options=options))
    return {"rows": rows, **meter.as_dict()}


def patient_mongodb_uri(uri: str) -> str:
    """`uri` with timeouts for a server that answers nothing while it runs a long command."""
    # mongoeco serves every connection from one event loop: a command that holds it for more
    # than connectTimeoutMS (20 s by default) times out the driver's heartbeat, the server is
    # marked unknown, and the import's next query fails after serverSelectionTimeoutMS.
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}connectTimeoutMS={MONGO_PATIENCE_MS}"


def step_import(data: Path) -> dict[str, Any]:
    """The `import_data` command on the results, then on the defects, on an empty database;
    then a vehicle's admin page and its stored rows, as prediction reads them."""
    if os.environ.get("MONGODB_URI"):
        os.environ["MONGODB_URI"] = patient_mongodb_uri(os.environ["MONGODB_URI"])
    setup_django()
    from django.core.management import call_command

    from plant.models import Dataset

    def import_data(kind: str, name: str) -> Meter:
        with Meter() as meter:
            call_command("import_data", **{kind: [data / name]}, no_progress=True,
                         stdout=StringIO())
        return meter

    meter = import_data("results", "results.csv.gz")
    defects_meter = import_data("defects", "defects.csv")
    results = Dataset.objects.get(kind="results")
    defects = Dataset.objects.get(kind="defects")
    database = Path(os.environ["CROSSLINE_VAR_DIR"]) / "crossline.sqlite3"
    return {
        "rows": results.rows_read,
        "knrs": results.knr_count,
        **meter.as_dict(),
        "defect_rows": defects.rows_read,
        "defects_wall_s": round(defects_meter.wall, 2),
        "defects_cpu_s": round(defects_meter.cpu, 2),
        **vehicle_reads(),
        "database_mib": round(database.stat().st_size / 1024**2, 1) if database.exists() else None,
    }


def vehicle_reads() -> dict[str, float]:
    """The admin's vehicle page (rendered for a logged-in staff user) and the stored-row read
    of one KNR (`get_results_frame`), cold (the first of the process) then warm, in ms."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from plant.models import Vehicle
    from plant.selectors import get_results_frame

    vehicles = list(Vehicle.objects.order_by("knr").values_list("knr", "pk"))
    sample = vehicles[:: max(1, len(vehicles) // PAGES)][:PAGES]
    admin = get_user_model().objects.create_superuser("bench-admin", "", "bench-pass")
    client = Client()
    client.force_login(admin)

    def page(pk: Any) -> tuple[float, float]:
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(f"/admin/plant/vehicle/{pk}/change/")
        if response.status_code != 200:
            raise RuntimeError(f"vehicle page: {response.status_code}")
        return time.perf_counter() - started, time.process_time() - started_cpu

    def read(knr: str) -> tuple[float, float]:
        started, started_cpu = time.perf_counter(), time.process_time()
        get_results_frame([knr])
        return time.perf_counter() - started, time.process_time() - started_cpu

    figures: dict[str, float] = {}
    for name, call, arguments in (("page", page, [pk for _, pk in sample]),
                                  ("rows", read, [knr for knr, _ in sample])):
        cold = call(arguments[-1])
        warm = [call(argument) for argument in arguments]
        walls, cpus = [w for w, _ in warm], [c for _, c in warm]
        figures.update({
            f"{name}_cold_ms": round(cold[0] * 1000, 1),
            f"{name}_p50_ms": round(statistics.median(walls) * 1000, 1),
            f"{name}_max_ms": round(max(walls) * 1000, 1),
            f"{name}_p50_cpu_ms": round(statistics.median(cpus) * 1000, 1),
            f"{name}_max_cpu_ms": round(max(cpus) * 1000, 1),
        })
    return figures


def step_train(data: Path) -> dict[str, Any]:
    """`train --wait` on the imported data; each kind's PR-AUC on the run's test set."""
    setup_django()
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
    """One-KNR `POST /api/predictions/` over HTTP (waitress, keep-alive), cold then warm; where
    a request's CPU goes, part by part; a batch from the stored results."""
    setup_django()
    import http.client

    from django.contrib.auth import get_user_model
    from django.core.wsgi import get_wsgi_application
    from rest_framework.authtoken.models import Token
    from waitress.server import create_server

    from bench.predict_api import request_parts
    from mlmodels.services import get_active_models
    from plant.models import Vehicle
    from predictions.services import predict_stored_knrs

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
    connection.close()
    p50_cpu = statistics.median(cpu)
    parts = request_parts(knrs[:: max(1, len(knrs) // 200)][:200], p50_cpu * 1000)
    # A batch as the product runs one from the stored results ("every vehicle since"): the
    # KNRs' rows read and predicted a thousand at a time, each prediction stored.
    batch = knrs[: min(len(knrs), BATCH_KNRS)]
    with Meter() as meter:
        predict_stored_knrs(batch, models=get_active_models())
    server.close()
    return {
        "knrs_stored": len(knrs),
        "cold_ms": round(cold * 1000, 1),
        "cold_cpu_ms": round(cold_cpu * 1000, 1),
        "p50_cpu_ms": round(p50_cpu * 1000, 1),
        "p99_cpu_ms": round(percentile(cpu, 0.99) * 1000, 1),
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "p99_ms": round(percentile(timings, 0.99) * 1000, 1),
        "requests": requests,
        "parts_cpu_ms": {name: round(ms, 2) for name, ms in parts.items()},
        "batch_knrs": len(batch),
        "batch_knrs_per_s": round(len(batch) / meter.wall),
        "batch_cpu_knrs_per_s": round(len(batch) / meter.cpu),
        "batch_peak_mib": round(meter.peak, 1),
        "peak_mib": round(rss_mib(), 1),
    }
