"""Training's commands: `train --wait` shows its progress on a terminal only."""

import io
import json

import pytest
from django.core.management import call_command

from plant.demo import generate_demo_data
from plant.imports import import_dataset
from training.models import PipelineDefinition
from training.pipeline.definition import PIPELINES_DIR

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def quick_pipeline(settings) -> None:
    settings.CROSSLINE_MIN_POSITIVES = 5
    definition = json.loads((PIPELINES_DIR / "default.json").read_text())
    definition.update(name="quick")
    definition["params"]["estimator"] = "logistic_regression"
    PipelineDefinition.objects.create(name="quick", definition=definition)


def test_train_wait_draws_one_bar_on_a_terminal_and_none_otherwise(tmp_path, quick_pipeline):
    files = generate_demo_data(knrs=120, out_dir=tmp_path / "demo", seed=0)
    for kind in ("results", "defects"):
        import_dataset(path=files[kind], original_name=files[kind].name, kind=kind)
    quiet, terminal = io.StringIO(), Terminal()

    call_command("train", "--wait", "--pipeline", "quick", stdout=io.StringIO(), stderr=quiet)
    call_command("train", "--wait", "--pipeline", "quick", stdout=io.StringIO(), stderr=terminal)

    assert quiet.getvalue() == ""
    drawn = terminal.getvalue()
    assert drawn.count("\r") >= 5  # one redraw per step
    assert drawn.rstrip("\n").count("\n") == 0
    assert "100/100" in drawn
