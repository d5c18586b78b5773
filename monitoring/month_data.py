"""A production month as the check needs it: its vehicles' stored result rows read once, their
feature rows built part by part (KNR ranges) with the feature builder the versions share,
each part counted into the drift reference's bins and scored by every version."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mlmodels import drift
from plant.month_rows import MonthVehicles, read_month_results
from training.pipeline.estimators import positive_scores
from training.pipeline.features import RESULT_COLUMNS, normalise_results

# Result rows per feature-building call, as training builds them: bounds the builder's
# working arrays (about 200 bytes a row) whatever the month's size.
PART_ROWS = 2_000_000


@dataclass
class MonthData:
    """A month's summary in the reference's bins, and each version's scores of its vehicles."""

    vehicles: int
    summary: dict[str, Any] | None
    scores: dict[str, pd.Series] = field(default_factory=dict)


def read_month(vehicles: MonthVehicles) -> pd.DataFrame:
    """The month's vehicles' result rows, the columns features read, normalised once."""
    return normalise_results(read_month_results(vehicles, RESULT_COLUMNS))


def gather_month(
    rows: pd.DataFrame, reference: dict[str, Any], pipelines: dict[str, Any]
) -> MonthData:
    """Build, summarise and score a month's rows for versions sharing one feature builder
    (`pipelines`: model name → fitted Pipeline, the builder first)."""
    builder = next(iter(pipelines.values())).steps[0][1]
    summaries: list[dict[str, Any]] = []
    scores: dict[str, list[pd.Series]] = {name: [] for name in pipelines}
    built = 0
    # One thread, as training scores: OpenMP threads spinning on a busy host cost more
    # than they gave.
    with threadpool_limits(limits=1):
        for part in feature_parts(builder, rows):
            built += len(part)
            summaries.append(drift.summarise(part, reference))
            for name, pipeline in pipelines.items():
                scores[name].append(
                    pd.Series(positive_scores(pipeline[1:], part), index=part.index)
                )
    return MonthData(
        vehicles=built,
        summary=drift.merge_summaries(summaries) if summaries else None,
        scores={name: pd.concat(parts) if parts else pd.Series(dtype=float)
                for name, parts in scores.items()},
    )


def feature_parts(builder: Any, rows: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """The feature rows of `rows` (normalised), built on about PART_ROWS rows at a time, each
    vehicle's rows in one part."""
    if not len(rows):
        return
    knr, _ = pd.factorize(rows["KNR"], sort=True)
    rows_up_to = np.cumsum(np.bincount(knr[knr >= 0]))
    cuts = np.searchsorted(rows_up_to, np.arange(0, len(knr), PART_ROWS), "right")
    edges = np.unique(np.r_[cuts, len(rows_up_to)])
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        yield builder.transform(rows[(knr >= low) & (knr < high)])
