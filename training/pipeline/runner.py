"""Runs a validated pipeline definition: steps in order, passing named values."""

import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

from crossline.exceptions import CrosslineError, InvalidPipeline
from training.pipeline.definition import PARAMS_PREFIX, PipelineSpec, StepSpec
from training.pipeline.registry import get_step


class StepFailed(CrosslineError):
    """A pipeline step raised; `step_name` names it and `original` is the exception."""

    def __init__(self, step_name: str, original: BaseException) -> None:
        super().__init__(f"step {step_name!r} failed: {type(original).__name__}: {original}")
        self.step_name = step_name
        self.original = original


def _bind_outputs(spec: StepSpec, value: Any) -> dict[str, Any]:
    if len(spec.outputs) == 1:
        return {spec.outputs[0]: value}
    if isinstance(value, dict) and set(value) >= set(spec.outputs):
        return {name: value[name] for name in spec.outputs}
    if isinstance(value, tuple | list) and len(value) == len(spec.outputs):
        return dict(zip(spec.outputs, value, strict=True))
    raise TypeError(f"returned {type(value).__name__}, expected {len(spec.outputs)} outputs")


def _last_uses(definition: PipelineSpec) -> dict[str, int]:
    last: dict[str, int] = {}
    for index, spec in enumerate(definition.steps):
        for _, source in spec.inputs:
            last[source] = index
    return last


def run_pipeline(
    definition: PipelineSpec,
    inputs: dict[str, Any],
    *,
    params: dict[str, Any] | None = None,
    on_step: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    keep: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Run the steps in order and return the named values (all, or only those in `keep`)."""
    missing = definition.required_inputs() - set(inputs)
    if missing:
        raise InvalidPipeline(f"pipeline {definition.name!r} misses inputs {sorted(missing)}")
    merged_params = {**definition.params, **(params or {})}
    values = dict(inputs)
    keep_names = None if keep is None else set(keep)
    last_uses = _last_uses(definition)
    total = len(definition.steps)
    emit = log or (lambda message: None)

    for index, spec in enumerate(definition.steps):
        if on_step is not None:
            on_step(spec.step, index + 1, total)
        started = time.perf_counter()
        try:
            function = get_step(spec.step)
            declared = inspect.signature(function).parameters
            kwargs: dict[str, Any] = {}
            for argument, source in spec.inputs:
                if source.startswith(PARAMS_PREFIX):
                    key = source.removeprefix(PARAMS_PREFIX)
                    if key in merged_params:
                        kwargs[argument] = merged_params[key]
                else:
                    kwargs[argument] = values[source]
            if "params" in declared and "params" not in kwargs:
                kwargs["params"] = merged_params
            if "log" in declared and "log" not in kwargs:
                kwargs["log"] = emit
            result = function(**kwargs)
            values.update(_bind_outputs(spec, result))
        except Exception as error:
            raise StepFailed(spec.step, error) from error
        emit(f"step {spec.step} done in {time.perf_counter() - started:.1f}s")
        if keep_names is not None:
            # Free intermediates (raw results can be gigabytes) once no later step reads them.
            for name in list(values):
                if name not in keep_names and last_uses.get(name, -1) <= index:
                    del values[name]
    return values
