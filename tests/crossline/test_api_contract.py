"""The REST API against its own schema: schemathesis over every operation of a live crossline.

Fails on any 5xx, any response that does not match the schema, any undocumented status code,
invalid input accepted, valid input refused, and a route answering without credentials. The
numbers of operations and requests, and the statuses seen, are printed (`-s` shows them).
What a schema cannot say (an upload must be a plant export; `month` needs `year`) is told to
schemathesis by `tests/crossline/schemathesis_hooks.py`.
"""

import json
import subprocess
import sys
import urllib.request
from collections import Counter

import pytest

from plant.demo import generate_demo_data
from tests.conftest import ON_MONGODB
from tests.crossline import schemathesis_hooks
from tests.support.live_server import ADMIN_PASSWORD, ROOT, LiveCrossline, running_crossline

pytestmark = [pytest.mark.live, pytest.mark.slow]

# Enough to find what fuzzing finds (a Unicode digit in `?page=`), bounded so that the run
# stays within about 3 minutes (mongoeco is far slower).
MAX_EXAMPLES = 5 if ON_MONGODB else 25
DEMO_KNRS = 200
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
]



def schemathesis_config() -> str:
    """The checks, in a config file rather than on the command line: there, naming the checks
    would override the token route's exception. The token route refuses well-formed
    credentials of no user (400): which users exist is no schema's to say; schemathesis makes
    the same exception for a schema's own OAuth token URL."""
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    return (
        f"[checks]\nenabled = false\n{checks}\n\n"
        '[[operations]]\ninclude-path = "/api/auth/token/"\n'
        "checks.positive_data_acceptance.enabled = false\n"
    )


def api_token(live: LiveCrossline, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    """A user's token through `POST /api/auth/token/`."""
    request = urllib.request.Request(
        live.url + "/api/auth/token/",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["token"]


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(tmp_path):
    exports = tmp_path / "exports"
    demo = generate_demo_data(
        knrs=20, out_dir=exports, seed=3, compress=False, first_knr_number=3_000_001
    )
    assert {demo["results"].name, demo["defects"].name} == {"results.csv", "defects.csv"}
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config())
    with running_crossline(tmp_path, demo_knrs=DEMO_KNRS, worker=True) as live:
        token = api_token(live)
        report = tmp_path / "schemathesis.json"
        har = tmp_path / "schemathesis.har"
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
                f"{live.url}/api/schema/",
                "--header", f"Authorization: Token {token}",
                "--phases", "examples,coverage,fuzzing",
                "--max-examples", str(MAX_EXAMPLES),
                "--workers", "1",
                "--seed", "11",
                "--request-timeout", "120",
                "--report", "json,har",
                "--report-json-path", str(report),
                "--report-har-path", str(har),
            ],
            cwd=tmp_path,  # schemathesis keeps a cache folder where it runs
            env={
                **live.env,
                "PYTHONPATH": str(ROOT),
                "SCHEMATHESIS_HOOKS": schemathesis_hooks.__name__,
                schemathesis_hooks.EXPORTS_ENV: str(exports),
            },
            capture_output=True,
            text=True,
            timeout=900,
        )
        summary = json.loads(report.read_text())
        requests = len(json.loads(har.read_text())["log"]["entries"])
        numbers = (
            f"schemathesis: {summary['operations']['tested']} operations, {requests} requests, "
            f"{summary['test_cases']['generated']} test cases in {summary['running_time']:.0f} s"
        )
        print(numbers)
        entries = json.loads(har.read_text())["log"]["entries"]
        print("statuses:", dict(Counter(e["response"]["status"] for e in entries)))

    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert summary["failures"] == [] and summary["errors"] == []
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 30
