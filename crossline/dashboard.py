"""The admin dashboard's parts: each app registers its own in `AppConfig.ready()`.

crossline knows nothing of the apps above it; each one contributes a function that reads its
own selectors and returns the values and charts the dashboard template shows.
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

Panel = Callable[[HttpRequest], dict[str, Any]]

_panels: list[Panel] = []


def register(panel: Panel) -> Panel:
    """Add a panel (once) to the dashboard."""
    if panel not in _panels:
        _panels.append(panel)
    return panel


def collect(request: HttpRequest) -> dict[str, Any]:
    """Every registered panel's values, merged into one dict for the template."""
    values: dict[str, Any] = {}
    for panel in _panels:
        values.update(panel(request))
    return values
