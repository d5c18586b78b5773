"""Tests of pipeline definitions: parsing, validation errors and the shipped files."""

import copy
import json

import pytest

from crossline.exceptions import InvalidPipeline
from training.pipeline.definition import (
    list_definition_files,
    load_definition,
    load_definition_file,
    parse_definition,
)
from training.pipeline.registry import get_step, registered_steps, step


@step("test_make_x")
def make_x(y: int) -> int:
    return y + 1


@step("test_make_y")
def make_y(x: int) -> int:
    return x * 2


def default_data() -> dict:
    return json.loads(next(p for p in list_definition_files() if p.stem == "default").read_text())


def test_the_default_definition_names_registered_steps_and_needs_only_the_files():
    definition = load_definition("default")

    assert [spec.step for spec in definition.steps] == [
        "load_datasets", "clean", "build_features", "build_drift_reference", "build_labels",
        "split_by_time", "train_models", "evaluate",
    ]
    assert definition.required_inputs() == {"results_files", "defects_files"}
    assert definition.params["estimator"] == "hist_gradient_boosting"
    assert parse_definition(definition.to_dict()) == definition


def test_registry_lists_the_builtin_steps():
    steps = registered_steps()

    assert steps["build_labels"] is get_step("build_labels")
    assert {"load_datasets", "clean", "train_models", "evaluate"} <= set(steps)


def test_registering_another_function_under_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="test_make_x"):
        step("test_make_x")(lambda y: y)


def test_an_unknown_step_is_refused_by_name():
    data = default_data()
    data["steps"][2]["step"] = "build_featurez"

    with pytest.raises(InvalidPipeline, match="build_featurez"):
        parse_definition(data, initial_inputs={"results_files", "defects_files"})


def test_a_missing_input_is_refused_naming_the_step_and_the_input():
    data = default_data()

    with pytest.raises(InvalidPipeline, match="'load_datasets'.*'defects_files'"):
        parse_definition(data, initial_inputs={"results_files"})


def test_a_step_reading_a_later_steps_output_is_refused_naming_both():
    data = default_data()
    names = [entry["step"] for entry in data["steps"]]
    features, labels = names.index("build_features"), names.index("build_labels")
    data["steps"][features], data["steps"][labels] = data["steps"][labels], data["steps"][features]

    expected = "'build_labels'.*'production_time'.*'build_features'"
    with pytest.raises(InvalidPipeline, match=expected):
        parse_definition(data, initial_inputs={"results_files", "defects_files"})


def test_a_cycle_between_two_steps_is_refused_naming_both():
    data = {"name": "loop", "steps": [
        {"step": "test_make_x", "inputs": ["y"], "outputs": ["x"]},
        {"step": "test_make_y", "inputs": ["x"], "outputs": ["y"]},
    ]}

    with pytest.raises(InvalidPipeline, match="'test_make_x'.*'y'.*'test_make_y'"):
        parse_definition(data, initial_inputs=set())


def test_a_step_reading_its_own_output_is_a_cycle():
    data = {"name": "self", "steps": [{"step": "test_make_x", "inputs": ["y"], "outputs": ["y"]}]}

    with pytest.raises(InvalidPipeline, match="cycle"):
        parse_definition(data, initial_inputs=set())


def test_an_input_the_step_function_does_not_take_is_refused():
    data = copy.deepcopy(default_data())
    data["steps"][2]["inputs"] = ["results", "defects"]

    with pytest.raises(InvalidPipeline, match="'build_features' has no argument 'defects'"):
        parse_definition(data)


def test_a_parameter_input_missing_from_params_is_refused():
    data = {"name": "p", "steps": [{"step": "test_make_x", "inputs": ["params:y"],
                                    "outputs": ["x"]}]}

    with pytest.raises(InvalidPipeline, match="'test_make_x'.*'y'"):
        parse_definition(data, initial_inputs=set())
    assert parse_definition({**data, "params": {"y": 1}}, initial_inputs=set()).params == {"y": 1}


def test_load_definition_refuses_names_that_are_paths():
    with pytest.raises(InvalidPipeline):
        load_definition("../settings")


def test_load_definition_file_reports_broken_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")

    with pytest.raises(InvalidPipeline, match="broken.json"):
        load_definition_file(path)
