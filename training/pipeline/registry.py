"""The registry of pipeline steps: definitions may only name functions registered here."""

from collections.abc import Callable
from importlib import import_module
from typing import Any

from crossline.exceptions import InvalidPipeline

StepFunction = Callable[..., Any]

# Modules whose import registers the built-in steps; steps are registered code, never files
# named by a definition (the original loaded and executed step files by path).
BUILTIN_STEP_MODULES = ("training.pipeline.steps", "training.pipeline.reference")

_STEPS: dict[str, StepFunction] = {}


def step(name: str) -> Callable[[StepFunction], StepFunction]:
    """Register the decorated function as the pipeline step `name`."""

    def register(function: StepFunction) -> StepFunction:
        existing = _STEPS.get(name)
        # Re-importing the same module (e.g. autoreload) re-registers the same function.
        if existing is not None and existing.__qualname__ != function.__qualname__:
            raise ValueError(f"pipeline step {name!r} is already registered")
        _STEPS[name] = function
        return function

    return register


def _load_builtin_steps() -> None:
    for module in BUILTIN_STEP_MODULES:
        import_module(module)


def get_step(name: str) -> StepFunction:
    """Return the function registered as step `name`, or raise InvalidPipeline."""
    _load_builtin_steps()
    try:
        return _STEPS[name]
    except KeyError:
        raise InvalidPipeline(f"unknown step {name!r}") from None


def registered_steps() -> dict[str, StepFunction]:
    """Return a copy of the registry: step name → function."""
    _load_builtin_steps()
    return dict(sorted(_STEPS.items()))
