"""The README's "Using it" block, run as written after a `make run` set-up."""

import json
import os
import re
import subprocess

import pytest

from tests.support.live_server import ROOT, instance_environment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.live,
    pytest.mark.sqlite_only(
        reason="the README's commands follow `make run`, on the embedded default; thousands "
        "of vehicles on mongoeco take too long"
    ),
]


def using_it_block() -> str:
    """The ```sh block under the README's "## Using it" heading."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "README.md: no ```sh block under ## Using it"
    return match.group(1)


def test_the_readme_block_names_commands_and_knrs():
    block = using_it_block()
    assert "$M predict --knr 2024-2000001 --knr 2024-2000004" in block
    assert "generate_demo_data" in block and "import_data" in block


def test_using_it_runs_as_written_after_make_run(tmp_path):
    # A folder laid out like a checkout: the README's relative paths (.venv, manage.py, var/)
    # resolve there, and its var/ is the instance's var folder.
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "manage.py").symlink_to(ROOT / "manage.py")
    env = instance_environment(tmp_path / "var")
    env["PYTHONPATH"] = str(ROOT)

    def shell(script: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-x", "-c", script], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=timeout,
        )

    # What `make run` does first, with a small demo set: the README follows it.
    setup = shell(".venv/bin/python manage.py migrate --noinput\n"
                  ".venv/bin/python manage.py bootstrap --demo-knrs 300")
    assert setup.returncode == 0, setup.stderr[-3000:]

    done = shell(using_it_block())

    assert done.returncode == 0, done.stderr[-5000:]
    assert "Refused" not in done.stderr
    predicted = (tmp_path / "predictions.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in predicted] == ["KNR", "2024-2000001", "2024-2000004"]
    # No vehicle's history mixes two results files: the generated KNRs were new each time.
    check = shell(
        ".venv/bin/python manage.py shell -c '"
        "import json; from plant.models import Vehicle, VehicleRecord;"
        "results = {}\n"
        "for knr, ds in VehicleRecord.objects.filter(kind=\"results\")"
        ".values_list(\"knr\", \"dataset_id\"): results.setdefault(knr, set()).add(ds)\n"
        "print(json.dumps({\"vehicles\": Vehicle.objects.count(),"
        " \"merged\": sum(len(s) > 1 for s in results.values())}))'"
    )
    assert check.returncode == 0, check.stderr[-3000:]
    counts = json.loads(check.stdout.strip().splitlines()[-1])
    assert counts["merged"] == 0
    assert counts["vehicles"] == 300 + 5000
    assert os.path.exists(tmp_path / "var" / "next" / "results.csv.gz")
