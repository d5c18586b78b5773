"""Plant's commands: new demo KNRs after the stored ones, and import progress on a terminal only."""

import io
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from plant.imports import import_dataset
from plant.models import Dataset, Vehicle

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def generate(out: Path, *args: str, knrs: int = 30, **kwargs) -> str:
    stdout = io.StringIO()
    call_command("generate_demo_data", "--knrs", str(knrs), "--out", str(out), *args,
                 stdout=stdout, **kwargs)
    return stdout.getvalue()


def truth_knrs(folder: Path) -> list[str]:
    return pd.read_csv(folder / "truth.csv", dtype={"KNR": str})["KNR"].tolist()


def import_folder(folder: Path) -> None:
    for kind, name in (("results", "results.csv.gz"), ("defects", "defects.csv")):
        import_dataset(path=folder / name, original_name=name, kind=kind)


def test_a_first_demo_set_starts_at_the_documented_knr(tmp_path):
    output = generate(tmp_path / "demo")
    knrs = truth_knrs(tmp_path / "demo")
    assert knrs[:2] == ["2024-2000001", "2024-2000004"]  # the README's predict example
    assert "KNRs from 2024-2000001." in output


def test_demo_data_generated_again_never_reuses_an_imported_knr(tmp_path):
    folder = tmp_path / "demo"
    generate(folder)
    import_folder(folder)
    before = dict(Vehicle.objects.values_list("knr", "test_count"))
    stored = set(before)
    highest = max(stored)

    # The same folder, overwritten: its files were imported, their KNRs must not come back.
    output = generate(folder, knrs=40)
    again = truth_knrs(folder)

    assert not stored & set(again)
    assert min(again) == f"2024-{int(highest[5:]) + 1:07d}"
    assert f"after the highest stored KNR {highest}" in output
    # Imported, the new files add vehicles instead of merging histories.
    import_folder(folder)
    after = dict(Vehicle.objects.values_list("knr", "test_count"))
    assert len(after) == len(stored) + 40
    assert {knr: after[knr] for knr in stored} == before


def test_demo_knrs_that_would_not_fit_are_refused_and_nothing_is_written(tmp_path):
    Vehicle.objects.create(knr="2024-9999990")
    with pytest.raises(CommandError, match="do not fit in seven digits.*2024-9999990"):
        generate(tmp_path / "demo", knrs=10)
    assert not (tmp_path / "demo").exists()


def test_import_progress_redraws_in_place_on_a_terminal_and_is_silent_otherwise(tmp_path):
    generate(tmp_path / "a")
    generate(tmp_path / "b", seed=1)
    quiet, terminal = io.StringIO(), Terminal()

    call_command("import_data", "--results", str(tmp_path / "a" / "results.csv.gz"),
                 stdout=io.StringIO(), stderr=quiet)
    call_command("import_data", "--results", str(tmp_path / "b" / "results.csv.gz"),
                 stdout=io.StringIO(), stderr=terminal)

    assert quiet.getvalue() == ""
    drawn = terminal.getvalue()
    assert "results.csv.gz" in drawn and "\r" in drawn
    assert "\n" not in drawn  # one line, redrawn; cleared when done (leave=False)
    assert Dataset.objects.count() == 2


@pytest.mark.live
@pytest.mark.slow
def test_in_a_real_terminal_the_import_bar_redraws_one_line(tmp_path):
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    from tests.support.live_server import ROOT, instance_environment

    env = instance_environment(tmp_path / "var")
    files = generate_demo_data_files(tmp_path / "demo")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=600)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_data", "--results", str(files["results"])],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
    )
    os.close(follower)
    drawn = b""
    try:
        # Read as it is written: the terminal's buffer is small.
        while True:
            try:
                block = os.read(leader, 65536)
            except OSError:  # the last writer closed the terminal
                break
            if not block:
                break
            drawn += block
        stdout = process.communicate(timeout=600)[0]
    finally:
        os.close(leader)
    assert process.returncode == 0
    text = drawn.decode(errors="replace")
    assert "results.csv.gz" in text and text.count("\r") >= 2
    assert text.strip("\r\n").count("\n") == 0  # one line, redrawn in place
    assert b"Imported" in stdout


def generate_demo_data_files(folder: Path) -> dict[str, Path]:
    from plant.demo import generate_demo_data

    return generate_demo_data(knrs=3_000, out_dir=folder, seed=3)


def test_a_next_demo_set_starts_after_the_latest_stored_production(tmp_path):
    generate(tmp_path / "first", "--days", "30")
    import_folder(tmp_path / "first")
    latest = Vehicle.objects.order_by("-last_test_at").first().last_test_at

    output = generate(tmp_path / "next", "--days", "30")

    results = pd.read_csv(tmp_path / "next" / "results.csv.gz", dtype=str)
    first = pd.to_datetime(results["DATA"], format="mixed").min()
    day_after = timezone.localtime(latest).date() + timedelta(days=1)
    assert first.date() == day_after and first.hour >= 6
    assert f"Production from {day_after:%Y-%m-%d} 06:00" in output


def test_drift_options_name_the_tests_they_shift_and_refuse_unknown_ones(tmp_path):
    output = generate(tmp_path / "demo", "--drift-from", "2024-01-10", "--drift-tests", "2",
                      "--days", "20")
    assert "SECTION_ZP8_00000001, SECTION_ALS_00000002 move by -1" in output

    with pytest.raises(CommandError, match="unknown test NOPE"):
        generate(tmp_path / "bad", "--drift-from", "2024-01-10", "--drift-tests",
                 "SECTION_ALS_00000002,NOPE")
    with pytest.raises(CommandError, match="between 1 and 8, not 9"):
        generate(tmp_path / "bad", "--drift-from", "2024-01-10", "--drift-tests", "9")
    assert not (tmp_path / "bad").exists()
