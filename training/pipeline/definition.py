"""Pipeline definitions: JSON naming registered steps with their inputs, outputs and params."""

import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossline.exceptions import InvalidPipeline
from training.pipeline.registry import get_step

PIPELINES_DIR = Path(__file__).resolve().parent.parent / "pipelines"
# What a training run gives a pipeline: the ready datasets' local Parquet files.
DEFAULT_INITIAL_INPUTS = frozenset({"results_files", "defects_files"})
# The default definition's parameters: a step given only some parameters takes these for the rest.
DEFAULT_PARAMS: dict[str, Any] = json.loads(
    (PIPELINES_DIR / "default.json").read_text(encoding="utf-8")
)["params"]
PARAMS_PREFIX = "params:"
# Arguments the runner supplies itself; a step may declare them without naming them as inputs.
INJECTED_ARGUMENTS = frozenset({"params", "log"})
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class StepSpec:
    """One step of a definition: the registered step, its bound inputs and its outputs."""

    step: str
    # (argument name, source): the source is a value name or `params:<key>`.
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of this step."""
        if all(argument == source for argument, source in self.inputs):
            inputs: list[str] | dict[str, str] = [source for _, source in self.inputs]
        else:
            inputs = dict(self.inputs)
        return {"step": self.step, "inputs": inputs, "outputs": list(self.outputs)}


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline definition."""

    name: str
    description: str
    steps: tuple[StepSpec, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def required_inputs(self) -> set[str]:
        """Return the value names the caller must give (not produced by an earlier step)."""
        produced: set[str] = set()
        required: set[str] = set()
        for spec in self.steps:
            for _, source in spec.inputs:
                if not source.startswith(PARAMS_PREFIX) and source not in produced:
                    required.add(source)
            produced.update(spec.outputs)
        return required

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of this definition (stored with each trained model)."""
        return {
            "name": self.name,
            "description": self.description,
            "steps": [spec.to_dict() for spec in self.steps],
            "params": dict(self.params),
        }


def _string_list(value: Any, *, what: str, step_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise InvalidPipeline(f"step {step_name!r}: {what} must be a list of names")
    return value


def _parse_inputs(value: Any, *, step_name: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
            raise InvalidPipeline(f"step {step_name!r}: inputs must map argument → name")
        return tuple(value.items())
    names = _string_list(value, what="inputs", step_name=step_name)
    # In list form the argument is the value name, minus a `params:` prefix.
    return tuple((name.removeprefix(PARAMS_PREFIX), name) for name in names)


def _check_signature(
    spec: StepSpec, parameters: dict[str, inspect.Parameter], params: dict[str, Any]
) -> None:
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    arguments = [argument for argument, _ in spec.inputs]
    if len(set(arguments)) != len(arguments):
        raise InvalidPipeline(f"step {spec.step!r} binds an argument twice")
    for argument, source in spec.inputs:
        if argument not in parameters and not accepts_any:
            raise InvalidPipeline(f"step {spec.step!r} has no argument {argument!r}")
        if source.startswith(PARAMS_PREFIX):
            key = source.removeprefix(PARAMS_PREFIX)
            has_default = (
                argument in parameters
                and parameters[argument].default is not inspect.Parameter.empty
            )
            if key not in params and not has_default:
                raise InvalidPipeline(f"step {spec.step!r} needs parameter {key!r}, not in params")
    for name, parameter in parameters.items():
        required = parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_KEYWORD,
            inspect.Parameter.VAR_POSITIONAL,
        )
        if required and name not in arguments and name not in INJECTED_ARGUMENTS:
            raise InvalidPipeline(f"step {spec.step!r} is missing input {name!r}")


def parse_definition(
    data: dict[str, Any], *, initial_inputs: set[str] | frozenset[str] = DEFAULT_INITIAL_INPUTS
) -> PipelineSpec:
    """Validate a definition's JSON data against the registered steps and return it."""
    if not isinstance(data, dict):
        raise InvalidPipeline("a pipeline definition must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidPipeline("a pipeline definition needs a name (letters, digits, _ . -)")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise InvalidPipeline(f"pipeline {name!r}: params must be an object")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InvalidPipeline(f"pipeline {name!r} has no steps")

    specs: list[StepSpec] = []
    for raw in raw_steps:
        if not isinstance(raw, dict) or not isinstance(raw.get("step"), str):
            raise InvalidPipeline(f"pipeline {name!r}: each step needs a 'step' name")
        step_name = raw["step"]
        function = get_step(step_name)
        spec = StepSpec(
            step=step_name,
            inputs=_parse_inputs(raw.get("inputs", []), step_name=step_name),
            outputs=tuple(_string_list(raw.get("outputs"), what="outputs", step_name=step_name)),
        )
        if not spec.outputs or len(set(spec.outputs)) != len(spec.outputs):
            raise InvalidPipeline(f"step {step_name!r} needs distinct, non-empty outputs")
        if any(output.startswith(PARAMS_PREFIX) for output in spec.outputs):
            raise InvalidPipeline(f"step {step_name!r} cannot write to params")
        _check_signature(spec, dict(inspect.signature(function).parameters), params)
        specs.append(spec)

    available = set(initial_inputs)
    for index, spec in enumerate(specs):
        for _, source in spec.inputs:
            if source.startswith(PARAMS_PREFIX) or source in available:
                continue
            later = [other.step for other in specs[index:] if source in other.outputs]
            if later:
                raise InvalidPipeline(
                    f"step {spec.step!r} needs {source!r}, which only step {later[0]!r} "
                    "produces at or after it: the steps are out of order or form a cycle"
                )
            raise InvalidPipeline(
                f"step {spec.step!r} needs input {source!r}, which no earlier step produces "
                "and the caller does not give"
            )
        # A later step may rebind a name (e.g. clean results → results) so that the raw
        # data can be freed; reading it afterwards gives the newest value.
        available.update(spec.outputs)

    description = data.get("description", "")
    return PipelineSpec(
        name=name,
        description=description if isinstance(description, str) else "",
        steps=tuple(specs),
        params=params,
    )


def load_definition_file(
    path: str | Path, *, initial_inputs: set[str] | frozenset[str] = DEFAULT_INITIAL_INPUTS
) -> PipelineSpec:
    """Read and validate one JSON pipeline definition file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InvalidPipeline(f"cannot read pipeline definition {path.name}: {error}") from error
    return parse_definition(data, initial_inputs=initial_inputs)


def list_definition_files() -> list[Path]:
    """Return the shipped definition files (`training/pipelines/*.json`), sorted by name."""
    return sorted(PIPELINES_DIR.glob("*.json"))


def load_definition(name: str = "default") -> PipelineSpec:
    """Load the shipped definition `training/pipelines/<name>.json`."""
    # The name may come from a request: only a plain file name inside PIPELINES_DIR is read.
    if not _NAME_RE.match(name) or name.startswith("."):
        raise InvalidPipeline(f"invalid pipeline name {name!r}")
    path = PIPELINES_DIR / f"{name}.json"
    if not path.is_file():
        raise InvalidPipeline(f"no pipeline definition named {name!r}")
    return load_definition_file(path)
