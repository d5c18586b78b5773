"""Tests of the pipeline runner on small registered steps."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossline.exceptions import InvalidPipeline
from plant import demo
from plant.readers.report import ValidationReport
from plant.readers.sniff import sniff_export
from plant.readers.validation import chunk_to_table, iter_clean_chunks
from training.pipeline.definition import load_definition, parse_definition
from training.pipeline.registry import step
from training.pipeline.runner import StepFailed, run_pipeline


@step("test_split_number")
def split_number(number: int, params: dict) -> tuple[int, int]:
    return divmod(number, params["divisor"])


@step("test_scale")
def scale(value: int, factor: int = 1) -> int:
    return value * factor


@step("test_explode")
def explode(value: int) -> int:
    raise ZeroDivisionError(f"cannot use {value}")


def definition(*steps: dict, params: dict | None = None):
    return parse_definition({"name": "t", "steps": list(steps), "params": params or {}},
                            initial_inputs={"number"})


SPLIT = {"step": "test_split_number", "inputs": ["number"], "outputs": ["quotient", "rest"]}
SCALE = {"step": "test_scale", "inputs": {"value": "quotient", "factor": "params:factor"},
         "outputs": ["scaled"]}


def test_runner_passes_named_values_and_params_between_steps():
    pipeline = definition(SPLIT, SCALE, params={"divisor": 5, "factor": 10})

    values = run_pipeline(pipeline, {"number": 17})

    assert (values["quotient"], values["rest"], values["scaled"]) == (3, 2, 30)


def test_runtime_params_override_the_definitions():
    pipeline = definition(SPLIT, SCALE, params={"divisor": 5, "factor": 10})

    values = run_pipeline(pipeline, {"number": 17}, params={"divisor": 2})

    assert values["scaled"] == 80


def test_runner_reports_each_step_as_it_starts():
    pipeline = definition(SPLIT, SCALE, params={"divisor": 5, "factor": 10})
    seen = []

    run_pipeline(pipeline, {"number": 17}, on_step=lambda *call: seen.append(call))

    assert seen == [("test_split_number", 1, 2), ("test_scale", 2, 2)]


def test_runner_names_the_failing_step_and_keeps_the_original_error():
    pipeline = definition(
        SPLIT, {"step": "test_explode", "inputs": {"value": "rest"}, "outputs": ["never"]},
        params={"divisor": 5},
    )
    logged = []

    with pytest.raises(StepFailed) as caught:
        run_pipeline(pipeline, {"number": 17}, log=logged.append)

    assert caught.value.step_name == "test_explode"
    assert isinstance(caught.value.original, ZeroDivisionError)
    assert "cannot use 2" in str(caught.value)
    assert any("test_split_number" in line for line in logged)


def test_a_step_returning_the_wrong_number_of_outputs_fails_by_name():
    pipeline = definition({"step": "test_scale", "inputs": {"value": "number"},
                           "outputs": ["a", "b"]})

    with pytest.raises(StepFailed, match="test_scale"):
        run_pipeline(pipeline, {"number": 3})


def test_missing_initial_inputs_are_refused_before_any_step_runs():
    pipeline = definition(SPLIT, params={"divisor": 5})

    with pytest.raises(InvalidPipeline, match="number"):
        run_pipeline(pipeline, {}, on_step=lambda *call: pytest.fail("a step ran"))


def test_keep_returns_only_the_named_values():
    pipeline = definition(SPLIT, SCALE, params={"divisor": 5, "factor": 10})

    values = run_pipeline(pipeline, {"number": 17}, keep=["scaled"])

    assert values == {"scaled": 30}


@pytest.mark.slow
def test_the_default_definition_trains_and_scores_every_kind_on_generated_data(tmp_path):
    exports = demo.generate_demo_data(knrs=400, out_dir=tmp_path, seed=3, tests_per_knr=30)
    parquet = {}
    for kind, key in (("results", "results"), ("defects", "defects")):
        report = ValidationReport(kind=kind, filename=exports[key].name)
        tables = [
            chunk_to_table(chunk, kind=kind)
            for chunk in iter_clean_chunks(
                sniff_export(exports[key], filename=exports[key].name, kind=kind), report=report
            )
        ]
        parquet[kind] = tmp_path / f"{kind}.parquet"
        pq.write_table(pa.concat_tables(tables), parquet[kind])
    steps_seen = []

    values = run_pipeline(
        load_definition("default"),
        {"results_files": [parquet["results"]], "defects_files": [parquet["defects"]]},
        params={"min_positives": 20},
        on_step=lambda name, index, total: steps_seen.append(name),
        keep=["result"],
    )

    result = values["result"]
    assert steps_seen[-1] == "evaluate"
    assert set(values) == {"result"}
    assert len(result["test_set"]) == 80
    fail = result["models"]["fail"]
    assert fail["n_train"] == 320
    # The demo's defects follow its test results: a working pipeline beats chance clearly.
    assert fail["metrics"]["roc_auc"] > 0.6
    assert set(fail["metrics"]) >= {"accuracy", "precision", "recall", "f1_score", "roc_auc",
                                    "pr_auc", "mcc", "confusion_matrix", "support", "threshold"}
    trained_or_skipped = set(result["models"]) | set(result["skipped"])
    assert {"fail", "group_2", "group_137"} <= trained_or_skipped
    assert all(count < 20 for count in result["skipped"].values())
