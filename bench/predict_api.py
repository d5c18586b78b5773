"""Benchmark: one-KNR prediction through the REST API (cold and warm) and batch throughput.

Runs on a throwaway SQLite database in a temporary CROSSLINE_VAR_DIR:

    .venv/bin/python bench/predict_api.py [--knrs 10000] [--requests 1000] [--tests-per-knr 800]

imports demo data with the import service, trains with the pipeline functions, registers and
activates the models, then times `POST /api/predictions/` over HTTP (waitress in this process,
token auth, keep-alive) cold and warm, in wall time and in this process's CPU time (server and
client together: the request's whole cost, whatever else the machine runs), and the batches.
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knrs", type=int, default=10_000, help="Demo vehicles to import.")
    parser.add_argument("--tests-per-knr", type=int, default=40,
                        help="Result rows per vehicle: 40 (the demo's default) or 800 (the "
                             "plant's real exports).")
    parser.add_argument("--requests", type=int, default=1_000, help="Warm requests to time.")
    parser.add_argument("--estimator", type=str, default="hist_gradient_boosting",
                        help="Estimator to train (the default pipeline's).")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/predict.md",
                        help="Where to write the results note.")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="crossline-bench-"))
    os.environ["CROSSLINE_VAR_DIR"] = str(var)
    # A throwaway database: a throwaway signing key unless one is given.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.pop("MONGODB_URI", None)
    os.environ.pop("CROSSLINE_SQLITE_PATH", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db.models import Sum
    from django.test.utils import setup_test_environment
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient
    from waitress.server import create_server

    from mlmodels.services import (
        activate_model_version,
        clear_model_cache,
        register_model_version,
    )
    from plant.demo import generate_demo_data
    from plant.imports import import_dataset
    from plant.models import DatasetKind, VehicleRecord
    from plant.readers.report import ValidationReport
    from plant.readers.sniff import sniff_export
    from plant.readers.validation import iter_clean_chunks
    from predictions import batches, services, tasks
    from predictions.models import BatchPrediction, Prediction
    from training.pipeline.steps import (
        build_features,
        build_labels,
        evaluate,
        split_by_time,
        train_models,
    )

    setup_test_environment()
    log = lambda message: print(message, flush=True)  # noqa: E731
    call_command("migrate", verbosity=0)
    facts: dict[str, str] = {}

    started = time.perf_counter()
    paths = generate_demo_data(knrs=args.knrs, out_dir=var / "demo", seed=42,
                               tests_per_knr=args.tests_per_knr)
    log(f"demo data: {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    import_dataset(path=paths["results"], original_name="results.csv.gz", kind="results")
    import_dataset(path=paths["defects"], original_name="defects.csv", kind="defects")
    facts["import (results + defects)"] = f"{time.perf_counter() - started:.1f} s"
    log(f"import: {facts['import (results + defects)']}")

    started = time.perf_counter()
    chunks = {}
    for kind in ("results", "defects"):
        report = ValidationReport(kind=kind, filename=kind)
        chunks[kind] = pd.concat(
            iter_clean_chunks(sniff_export(paths[kind], filename=kind, kind=kind), report=report),
            ignore_index=True,
        )
    params = {"estimator": args.estimator}
    features, production_time, builder = build_features(chunks["results"], params)
    labels = build_labels(chunks["defects"], features.index)
    train_set, test_set = split_by_time(features, labels, production_time)
    trained = evaluate(
        train_models(train_set, builder, params), test_set, chunks["results"]
    )
    for kind, entry in trained["models"].items():
        version = register_model_version(
            type_model=kind,
            pipeline=entry["pipeline"],
            threshold=entry["threshold"],
            metrics=entry["metrics"],
            feature_count=len(entry["feature_columns"]),
            n_train=entry["n_train"],
            n_test=entry["n_test"],
        )
        # Every kind predicts, as in production once a team has looked: latency is measured
        # here, not whether a model on demo data clears the activation gate.
        activate_model_version(version=version, override=not version.eligible,
                               reason="" if version.eligible else "latency benchmark")
    facts["training"] = (
        f"{time.perf_counter() - started:.1f} s, {args.estimator}, kinds "
        f"{', '.join(trained['models'])}; {features.shape[1]} features"
    )
    log(f"training: {facts['training']}")

    user = get_user_model().objects.create_user("bench", password="bench-password",
                                                is_staff=True)
    api = APIClient()
    api.force_authenticate(user)
    knrs = list(features.index)
    stored_rows = VehicleRecord.objects.filter(kind=DatasetKind.RESULTS).aggregate(
        rows=Sum("row_count")
    )["rows"]

    # Over HTTP as a client meets it: waitress (as `manage.py serve`), token auth, keep-alive.
    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=2)
    threading.Thread(target=server.run, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.effective_port)
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}",
               "Content-Type": "application/json"}

    def request(method: str, path: str, body: dict | None = None) -> tuple[float, float]:
        """(wall, CPU of this process) seconds of one request."""
        started, started_cpu = time.perf_counter(), time.process_time()
        conn.request(method, path, json.dumps(body) if body else None, headers)
        response = conn.getresponse()
        content = response.read()
        assert response.status in (200, 201), content
        return time.perf_counter() - started, time.process_time() - started_cpu

    clear_model_cache()
    cold, cold_cpu = request("POST", "/api/predictions/", {"KNR": knrs[0]})
    log(f"cold: {cold * 1000:.0f} ms ({cold_cpu * 1000:.0f} ms CPU)")

    timings, cpu = [], []
    for i in range(args.requests):
        wall, used = request("POST", "/api/predictions/", {"KNR": knrs[(i * 7919) % len(knrs)]})
        timings.append(wall)
        cpu.append(used)
    p50 = statistics.median(timings) * 1000
    p99 = percentile(timings, 99) * 1000
    cpu50, cpu99 = statistics.median(cpu) * 1000, percentile(cpu, 99) * 1000
    log(f"warm: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {args.requests}; "
        f"CPU p50 {cpu50:.1f} ms, p99 {cpu99:.1f} ms")

    get_ms = request("GET", f"/api/predictions/{knrs[0]}/")[0] * 1000
    # The server thread dies with the process: closing it under a live channel only logs noise.
    conn.close()

    parts = request_parts(knrs[: min(len(knrs), 200)], cpu50)
    log("where a request's CPU goes: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))

    # Batch from the stored results (every vehicle "since" the start), via the queued task.
    Prediction.objects.all().delete()
    batch = BatchPrediction.objects.create(since=pd.Timestamp("2020-01-01", tz="UTC"))
    started = time.perf_counter()
    tasks.run_batch_prediction(batch.pk)
    stored_seconds = time.perf_counter() - started
    batch.refresh_from_db()
    assert batch.status == "succeeded", batch.error
    stored_rate = batch.predicted_count / stored_seconds
    log(f"batch (stored results): {batch.predicted_count} KNRs in {stored_seconds:.1f}s")

    # Batch from an uploaded export (202, then the worker's task), predictions replaced.
    with paths["results"].open("rb") as f:
        response = api.post("/api/predictions/batch/", {"file": f}, format="multipart")
    assert response.status_code == 202, response.content
    batch = BatchPrediction.objects.get(pk=response.json()["id"])
    started = time.perf_counter()
    batches.run_batch_prediction(batch_id=batch.pk)
    upload_seconds = time.perf_counter() - started
    batch.refresh_from_db()
    assert batch.status == "succeeded", batch.error
    upload_rate = batch.predicted_count / upload_seconds
    log(f"batch (uploaded file): {batch.predicted_count} KNRs in {upload_seconds:.1f}s")

    # Pure core, no database: the model work alone.
    started = time.perf_counter()
    services.predict_frame(chunks["results"])
    core_seconds = time.perf_counter() - started

    rows_per_knr = len(chunks["results"]) / len(knrs)
    n = f"{len(knrs):,} KNRs"
    rows = [
        ("measure", "result", "target"),
        ("---", "---", "---"),
        ("cold (first request after clearing the model cache: load + SHA-256 check)",
         f"{cold * 1000:.0f} ms ({cold_cpu * 1000:.0f} ms CPU)", "1 s"),
        (f"warm p50 over {args.requests:,} requests", f"{p50:.1f} ms", "10 ms"),
        (f"warm p99 over {args.requests:,} requests", f"{p99:.1f} ms", "25 ms"),
        ("CPU per warm request (server and client), p50 / p99",
         f"{cpu50:.1f} / {cpu99:.1f} ms", ""),
        ("`GET /api/predictions/{KNR}/` (one read)", f"{get_ms:.1f} ms", ""),
        (f"batch from stored results (task, {n})",
         f"{stored_rate:,.0f} KNRs/s ({stored_seconds:.1f} s)", ""),
        (f"batch from an uploaded export (202 + task, {n})",
         f"{upload_rate:,.0f} KNRs/s ({upload_seconds:.1f} s)", ""),
        ("prediction core only (`predict_frame`, no database)",
         f"{len(knrs) / core_seconds:,.0f} KNRs/s", ""),
    ]
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    breakdown = "\n".join(
        ["| part | CPU ms (median) |", "| --- | --- |"]
        + [f"| {name} | {ms:.2f} |" for name, ms in parts.items()]
    )
    note = f"""# Prediction benchmark (`bench/predict_api.py`)

Throwaway SQLite database, {len(knrs):,} demo KNRs (about {rows_per_knr:.0f} result rows each,
{stored_rows:,} result rows stored), imported with the import service and trained with the
pipeline functions; every kind with enough positives registered and activated. Requests go
over HTTP to waitress in the same process (token auth, keep-alive, staff user,
`POST /api/predictions/` with `{{"KNR": …}}`: read the stored rows, build features, run every
active model, store the prediction and its history); CPU is this process's (server and client),
wall time includes whatever else the machine runs. Machine: {os.cpu_count()} CPUs.

{table}

Where a warm request's CPU goes: each part called in-process on the same KNRs, median; the
last row is the HTTP request's CPU p50 less `predict_knrs` (waitress, middleware, DRF, token
lookup, request parsing, response serialisation, and the client's side).

{breakdown}

Setup: {", ".join(f"{k}: {v}" for k, v in facts.items())}.

Estimator `{args.estimator}` (the default pipeline's). A one-vehicle request walks every
gradient-boosted tree at once (`training.pipeline.estimators.CompiledTrees`); batches use
scikit-learn's own path.
"""
    args.out.write_text(note, encoding="utf-8")
    log(f"wrote {args.out}")


def request_parts(knrs: list[str], request_ms: float) -> dict[str, float]:
    """Median CPU milliseconds of each part of a one-KNR prediction, called in-process."""
    import sklearn

    from mlmodels.services import get_active_models, mark_models_used
    from plant.selectors import get_results_frame
    from predictions import services
    from training.pipeline.estimators import predict_positive

    def median_ms(call: Callable[[int], Any]) -> float:
        times = []
        for i in range(len(knrs)):
            started = time.process_time()
            call(i)
            times.append(time.process_time() - started)
        return statistics.median(times) * 1000

    models = get_active_models()
    frames = [get_results_frame([knr]) for knr in knrs]
    builder = next(iter(models.values())).pipeline.steps[0][1]

    def every_model(i: int) -> None:
        shared: dict = {}
        with sklearn.config_context(assume_finite=True):
            for loaded in models.values():
                predict_positive(loaded.pipeline, frames[i], features=shared)

    predicted = [services.predict_frame(frame, models=models) for frame in frames]
    parts = {
        "active models (query + cache check)": median_ms(lambda i: get_active_models()),
        "stored rows (`get_results_frame`)": median_ms(lambda i: get_results_frame([knrs[i]])),
        "features (`ResultFeatures.transform`)": median_ms(lambda i: builder.transform(frames[i])),
        f"features + {len(models)} models": median_ms(every_model),
        "`predict_frame` (features, models, inspections, times)": median_ms(
            lambda i: services.predict_frame(frames[i], models=models)
        ),
        "storing the prediction (and its history)": median_ms(
            lambda i: services.store_predictions(predicted[i])
        ),
        "marking the models used": median_ms(
            lambda i: mark_models_used([loaded.version for loaded in models.values()])
        ),
        "`predict_knrs([knr])` in all": median_ms(lambda i: services.predict_knrs(knrs=[knrs[i]])),
    }
    parts["HTTP: waitress, middleware, DRF, auth, serialisation, client"] = max(
        0.0, request_ms - parts["`predict_knrs([knr])` in all"]
    )
    return parts


if __name__ == "__main__":
    main()
