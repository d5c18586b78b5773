"""Hooks: a lower app asks, a higher app answers, without the lower app importing the higher."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """One function slot a higher app fills from its `AppConfig.ready()`; unfilled, a default."""

    def __init__(self, name: str, default: Callable[..., Any]) -> None:
        self.name = name
        self.default = default
        self.function: Callable[..., Any] | None = None

    def register(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Answer this hook with `function` (the last registration wins)."""
        self.function = function
        return function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self.function or self.default)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}>"
