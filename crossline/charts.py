"""Chart.js configurations built from plain numbers (the page's script only draws them)."""

from collections.abc import Sequence
from typing import Any

# Colour-blind-safe (Okabe–Ito) series colours, in order.
COLOURS = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#999999",
)


def colour(index: int) -> str:
    """The index-th series colour."""
    return COLOURS[index % len(COLOURS)]


def bar_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    horizontal: bool = False,
    percent: bool = False,
    y_title: str = "",
) -> dict[str, Any]:
    """Bars per label, one colour per series."""
    value_axis = "x" if horizontal else "y"
    return {
        "type": "bar",
        "data": {
            "labels": list(labels),
            "datasets": [
                {"label": name, "data": list(values), "backgroundColor": colour(i)}
                for i, (name, values) in enumerate(series.items())
            ],
        },
        "options": _options(
            index_axis="y" if horizontal else "x",
            axes={value_axis: _axis(y_title, percent=percent, begin_at_zero=True)},
            legend=len(series) > 1,
        ),
    }


def line_chart(
    series: dict[str, Sequence[tuple[float, float | None]]],
    *,
    x_title: str = "",
    y_title: str = "",
    percent: bool = False,
    x_percent: bool = False,
    x_integer: bool = False,
    points: dict[str, Sequence[tuple[float, float]]] | None = None,
    diagonal: bool = False,
) -> dict[str, Any]:
    """Lines over a numeric x axis; `points` adds marked points, `diagonal` the line y = x."""
    datasets: list[dict[str, Any]] = [
        {
            "label": name,
            "data": [{"x": x, "y": y} for x, y in values],
            "borderColor": colour(i),
            "backgroundColor": colour(i),
            "pointRadius": 3 if len(values) <= 20 else 0,
            "tension": 0,
        }
        for i, (name, values) in enumerate(series.items())
    ]
    for name, values in (points or {}).items():
        datasets.append(
            {
                "label": name,
                "data": [{"x": x, "y": y} for x, y in values],
                "borderColor": "#ba2121",
                "backgroundColor": "#ba2121",
                "pointRadius": 7,
                "pointStyle": "crossRot",
                "borderWidth": 3,
                "showLine": False,
            }
        )
    if diagonal:
        datasets.append(
            {
                "label": "perfectly calibrated",
                "data": [{"x": 0, "y": 0}, {"x": 1, "y": 1}],
                "borderColor": "#999999",
                "borderDash": [4, 4],
                "pointRadius": 0,
            }
        )
    x_axis = _axis(x_title, percent=x_percent, begin_at_zero=False)
    x_axis["type"] = "linear"
    if x_integer:
        x_axis["ticks"]["precision"] = 0
    return {
        "type": "line",
        "data": {"datasets": datasets},
        "options": _options(
            index_axis="x",
            axes={"x": x_axis, "y": _axis(y_title, percent=percent, begin_at_zero=True)},
            legend=len(datasets) > 1,
        ),
    }


def _axis(title: str, *, percent: bool, begin_at_zero: bool) -> dict[str, Any]:
    axis: dict[str, Any] = {"beginAtZero": begin_at_zero, "ticks": {}}
    if title:
        axis["title"] = {"display": True, "text": title}
    if percent:
        # Read by the page's script: tick labels as whole percentages of a 0–1 value.
        axis["ticks"]["format"] = "percent"
        axis["suggestedMax"] = 1
    return axis


def _options(*, index_axis: str, axes: dict[str, Any], legend: bool) -> dict[str, Any]:
    return {
        "indexAxis": index_axis,
        "responsive": True,
        "maintainAspectRatio": False,
        "animation": False,
        "scales": axes,
        "plugins": {"legend": {"display": legend, "position": "bottom"}},
    }
