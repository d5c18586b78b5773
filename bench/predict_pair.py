"""Benchmark: server CPU per one-KNR request of two source trees, paired on the same data.

    .venv/bin/python bench/predict_pair.py --before /path/to/old/tree [--knrs 3000]
        [--rounds 6] [--requests 100]

Sets up one throwaway SQLite database as `bench/predict_api.py` does (demo data imported and
trained, every kind activated, a staff token), then serves it from two waitress processes, one
running this tree and one `--before`, and sends them alternating rounds of one-KNR
`POST /api/predictions/` over keep-alive connections. Each round's CPU is read from the server
process (`/proc/<pid>/stat`), so the client and the machine's other work are not counted and a
load change hits both trees alike. Prints the per-request CPU of every round and the medians.
"""

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def serve(port: int) -> None:
    """Child: serve this tree's WSGI application on 127.0.0.1:port."""
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    create_server(get_wsgi_application(), host="127.0.0.1", port=port, threads=2).run()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def setup(knrs: int) -> tuple[str, list[str]]:
    """A trained, activated database in CROSSLINE_VAR_DIR; (token, KNRs)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from mlmodels.services import activate_model_version, register_model_version
    from plant.demo import generate_demo_data
    from plant.imports import import_dataset
    from plant.readers.report import ValidationReport
    from plant.readers.sniff import sniff_export
    from plant.readers.validation import iter_clean_chunks
    from training.pipeline.steps import build_features, build_labels, split_by_time, train_models

    call_command("migrate", verbosity=0)
    var = Path(os.environ["CROSSLINE_VAR_DIR"])
    paths = generate_demo_data(knrs=knrs, out_dir=var / "demo", seed=42)
    import_dataset(path=paths["results"], original_name="results.csv.gz", kind="results")
    import_dataset(path=paths["defects"], original_name="defects.csv", kind="defects")
    chunks = {}
    for kind in ("results", "defects"):
        report = ValidationReport(kind=kind, filename=kind)
        chunks[kind] = pd.concat(
            iter_clean_chunks(sniff_export(paths[kind], filename=kind, kind=kind), report=report),
            ignore_index=True,
        )
    params = {"estimator": "hist_gradient_boosting"}
    features, production_time, builder = build_features(chunks["results"], params)
    labels = build_labels(chunks["defects"], features.index)
    train_set, _ = split_by_time(features, labels, production_time)
    for kind, entry in train_models(train_set, builder, params)["models"].items():
        version = register_model_version(
            type_model=kind, pipeline=entry["pipeline"], threshold=entry["threshold"],
            metrics={}, feature_count=len(entry["feature_columns"]),
        )
        activate_model_version(version=version, override=not version.eligible,
                               reason="" if version.eligible else "latency benchmark")
    user = get_user_model().objects.create_user("bench", password="bench-password",
                                                is_staff=True)
    return Token.objects.create(user=user).key, list(features.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="The other source tree.")
    parser.add_argument("--knrs", type=int, default=3000, help="Demo vehicles to import.")
    parser.add_argument("--rounds", type=int, default=6, help="Rounds per tree.")
    parser.add_argument("--requests", type=int, default=100, help="Requests per round.")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    os.environ["CROSSLINE_VAR_DIR"] = tempfile.mkdtemp(prefix="crossline-pair-")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.pop("MONGODB_URI", None)
    os.environ.pop("CROSSLINE_SQLITE_PATH", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crossline.settings")
    started = time.perf_counter()
    token, knrs = setup(args.knrs)
    print(f"setup: {len(knrs)} KNRs in {time.perf_counter() - started:.0f} s", flush=True)

    trees = {"before": args.before.resolve(), "after": ROOT}
    servers, conns = {}, {}
    for i, (name, tree) in enumerate(trees.items()):
        port = 18431 + i + os.getpid() % 1000 * 2
        servers[name] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)], cwd=tree
        )
        conns[name] = (port, None)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(name: str, knr: str) -> None:
        port, conn = conns[name]
        for _attempt in range(100):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port)
                conn.request("POST", "/api/predictions/", json.dumps({"KNR": knr}), headers)
                response = conn.getresponse()
                body = response.read()
                break
            except ConnectionRefusedError:
                conn = None
                time.sleep(0.5)
        assert response.status in (200, 201), body
        conns[name] = (port, conn)

    per_request: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for name in trees:
            post(name, knrs[0])  # loads the models (cold)
            post(name, knrs[1])
        for r in range(args.rounds):
            for name in trees if r % 2 == 0 else reversed(list(trees)):
                pid = servers[name].pid
                before = cpu_seconds(pid)
                for i in range(args.requests):
                    post(name, knrs[(r * args.requests + i) * 7919 % len(knrs)])
                used = (cpu_seconds(pid) - before) / args.requests * 1000
                per_request[name].append(used)
                print(f"round {r} {name}: {used:.1f} ms CPU per request", flush=True)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
    for name, values in per_request.items():
        print(f"{name}: median {statistics.median(values):.1f} ms CPU per request "
              f"(rounds {', '.join(f'{v:.1f}' for v in values)})")
    # Where this tree's request goes, part by part, in this process (see predict_api.py).
    sys.path.insert(0, str(ROOT / "bench"))
    from predict_api import request_parts

    parts = request_parts(knrs[:200], statistics.median(per_request["after"]))
    for part, ms in parts.items():
        print(f"part: {part}: {ms:.2f} ms CPU")


if __name__ == "__main__":
    main()
