"""The REST API against its own schema: schemathesis over every operation of a live crossline.

Fails on any 5xx, any response that does not match the schema, any undocumented status code,
invalid input accepted, and a route answering without credentials. The numbers of operations
and requests, and the statuses seen, are printed (`-s` shows them).
"""

import json
import subprocess
import sys
import urllib.request
from collections import Counter

import pytest

from tests.conftest import ON_MONGODB
from tests.support.live_server import ADMIN_PASSWORD, LiveCrossline, running_crossline

pytestmark = [pytest.mark.live, pytest.mark.slow]

# Bounded so that the whole run stays within about 3 minutes (mongoeco is far slower).
MAX_EXAMPLES = 3 if ON_MONGODB else 6
DEMO_KNRS = 200
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
]


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
    with running_crossline(tmp_path, demo_knrs=DEMO_KNRS, worker=True) as live:
        token = api_token(live)
        report = tmp_path / "schemathesis.json"
        har = tmp_path / "schemathesis.har"
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run", f"{live.url}/api/schema/",
                "--header", f"Authorization: Token {token}",
                "--checks", ",".join(CHECKS),
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
