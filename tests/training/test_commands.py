"""Training's commands: new demo KNRs after the stored ones, and progress on a terminal only."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from training.imports import import_dataset
from training.models import Dataset, PipelineDefinition, Vehicle
from training.pipeline.definition import PIPELINES_DIR

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def generate(out: Path, knrs: int = 30, **kwargs) -> str:
    stdout = io.StringIO()
    call_command("generate_demo_data", "--knrs", str(knrs), "--out", str(out),
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


@pytest.fixture
def quick_pipeline(settings) -> None:
    settings.CROSSLINE_MIN_POSITIVES = 5
    definition = json.loads((PIPELINES_DIR / "default.json").read_text())
    definition.update(name="quick")
    definition["params"]["estimator"] = "logistic_regression"
    PipelineDefinition.objects.create(name="quick", definition=definition)


def test_train_wait_draws_one_bar_on_a_terminal_and_none_otherwise(tmp_path, quick_pipeline):
    generate(tmp_path / "demo", knrs=120)
    import_folder(tmp_path / "demo")
    quiet, terminal = io.StringIO(), Terminal()

    call_command("train", "--wait", "--pipeline", "quick", stdout=io.StringIO(), stderr=quiet)
    call_command("train", "--wait", "--pipeline", "quick", stdout=io.StringIO(), stderr=terminal)

    assert quiet.getvalue() == ""
    drawn = terminal.getvalue()
    assert drawn.count("\r") >= 5  # one redraw per step
    assert drawn.rstrip("\n").count("\n") == 0
    assert "100/100" in drawn
