"""Why a fitted version scores a vehicle high: its strongest inputs, each input's typical value
(the training median the version keeps), and how far the score falls when one input at a time
is set to its typical value.

Pure functions over fitted Pipelines and feature frames (no Django). Feature names are those
of `features.ResultFeatures`: `value|NAME#ID|sub`, `min|NAME#ID`, `max|NAME#ID`,
`mean|NAME#ID`, `last_nok|NAME#ID`, `runs|NAME#ID`, the aggregates and the line times.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from training.pipeline.bounds import RobustBounds
from training.pipeline.estimators import AnyFailure, MeanLogOdds
from training.pipeline.transforms import InformativeColumns


@dataclass(frozen=True)
class FeatureName:
    """A feature column's parts: its kind (`value`, `min`, `max`, `mean`, `last_nok`, `runs`, or an
    aggregate or time name), and for a test's feature the test NAME, family ID and sub-result."""

    kind: str
    test: str = ""
    family: int | None = None
    sub: str = ""


def parse_feature_name(name: str) -> FeatureName:
    """`value|SECTION_ZP8_00000001#2|2` → value of test SECTION_ZP8_00000001, family 2, sub 2."""
    kind, _, rest = name.partition("|")
    if not rest:
        return FeatureName(kind=kind)
    test_id, _, sub = rest.partition("|")
    test, _, family = test_id.rpartition("#")
    return FeatureName(
        kind=kind,
        test=test or test_id,
        family=int(family) if family.lstrip("-").isdigit() else None,
        sub=sub,
    )


def base_feature(name: str) -> str:
    """The feature-frame column behind a name a model's later steps gave it: a deviation
    (`|x|`) or a missing-value indicator (`missingindicator_x`) is the column x."""
    name = str(name)
    if len(name) > 2 and name.startswith("|") and name.endswith("|"):
        name = name[1:-1]
    return name.removeprefix("missingindicator_")


def strongest_inputs(diagnostics: dict[str, Any] | None, limit: int) -> list[str]:
    """A version's strongest inputs as feature-frame columns, strongest first (from the top
    features kept with it at registration)."""
    importance = (diagnostics or {}).get("importance") or {}
    names: list[str] = []
    for entry in importance.get("features") or []:
        name = base_feature(entry[0])
        if name not in names:
            names.append(name)
        if len(names) == limit:
            break
    return names


@dataclass(frozen=True)
class Typical:
    """Per feature-frame column, its training median and spread, as a version keeps them."""

    median: dict[str, float]
    spread: dict[str, float]
    # The medians and spreads as arrays for the last columns seen (see `aligned`).
    _aligned: list[tuple[pd.Index, list[str], np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list, compare=False, repr=False
    )

    def aligned(
        self, columns: pd.Index
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """The columns with a median (in the frame's order), their positions in the frame,
        their medians and their spreads (1 where none is kept or it is 0).

        Kept for the last columns: a feature builder gives all its frames one Index (equal at
        once), so prediction reads thousands of column names once, not per vehicle."""
        last = self._aligned[-1] if self._aligned else None
        if last is not None and last[0].equals(columns):
            return last[1:]
        names = columns.tolist()
        known = [name for name in names if name in self.median]
        found = (
            known,
            columns.get_indexer(known),
            np.array([self.median[n] for n in known]),
            np.array([self.spread.get(n, 1.0) or 1.0 for n in known]),
        )
        # One entry, replaced: the list only carries it (the dataclass is frozen).
        self._aligned[:] = [(columns, *found)]
        return found


# A fitted version's typical values, read once: walking its steps' arrays took 33 ms for the
# combined fail model at the plant's width, for every vehicle explained.
_typical: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def typical_values(pipeline: Pipeline) -> Typical:
    """The training medians (and spreads) a version's fitted steps keep: RobustBounds' centres
    and spreads, else a median imputer's statistics (spread 1); empty when neither is kept."""
    if not isinstance(pipeline, Pipeline):
        return Typical({}, {})
    if pipeline not in _typical:
        _typical[pipeline] = _typical_values(pipeline)
    return _typical[pipeline]


def _typical_values(pipeline: Pipeline) -> Typical:
    return _steps_medians(pipeline.steps[1:])


def _steps_medians(steps: list[tuple[str, Any]]) -> Typical:
    """An estimator's medians; a combined or averaged model's are its parts' (the first
    part's, then the next ones' for columns it does not keep)."""
    model = steps[-1][1] if len(steps) == 1 else None
    if isinstance(model, AnyFailure):
        parts = [model.direct, *model.groups]
    elif isinstance(model, MeanLogOdds):
        parts = list(model.parts)
    else:
        return _estimator_medians(steps)
    found = Typical({}, {})
    for part in parts[::-1]:
        kept = _steps_medians(part.steps)
        found.median.update(kept.median)
        found.spread.update(kept.spread)
    return found


def _estimator_medians(steps: list[tuple[str, Any]]) -> Typical:
    # The last selection is the one the bounds were fitted after (the plain approach's own
    # view of the features comes first, itself a selection).
    selects = [s for _, s in steps if isinstance(s, InformativeColumns)]
    select = selects[-1] if selects else None
    if select is None or getattr(select, "feature_names_in_", None) is None:
        return Typical({}, {})
    kept = [str(select.feature_names_in_[i]) for i in select.keep_]
    for _, step in steps:
        if isinstance(step, RobustBounds) and len(step.center_) == len(kept):
            centre, spread = step.center_, step.spread_
        elif isinstance(step, SimpleImputer) and step.strategy == "median" and len(
            step.statistics_
        ) == len(kept):
            centre, spread = step.statistics_, np.ones(len(kept))
        else:
            continue
        usable = [i for i, value in enumerate(centre) if np.isfinite(value)]
        return Typical(
            median={kept[i]: float(centre[i]) for i in usable},
            spread={kept[i]: float(spread[i]) for i in usable},
        )
    return Typical({}, {})


def candidate_inputs(
    features: pd.DataFrame, typical: Typical, strongest: list[str], limit: int
) -> list[list[str]]:
    """Per row, the inputs to try: the version's strongest, then the row's readings furthest
    from their median (in spreads), `limit` in all."""
    known, positions, centre, spread = typical.aligned(features.columns)
    first = [name for name in strongest if name in typical.median and name in features.columns]
    if not known:
        return [first[:limit] for _ in range(len(features))]
    with np.errstate(invalid="ignore", over="ignore"):
        readings = features.to_numpy(dtype=np.float64)[:, positions]
        distance = np.abs((readings - centre) / spread)
    distance = np.where(np.isfinite(distance), distance, -1.0)
    order = np.argsort(-distance, axis=1)[:, :limit]
    rows = []
    for i in range(len(features)):
        chosen = list(first[:limit])
        for j in order[i]:
            if len(chosen) >= limit or distance[i, j] <= 0:
                break
            if known[j] not in chosen:
                chosen.append(known[j])
        rows.append(chosen)
    return rows


def risk_drops(
    score: Callable[[pd.DataFrame], np.ndarray],
    features: pd.DataFrame,
    candidates: list[list[str]],
    typical: Typical,
) -> list[list[tuple[str, float]]]:
    """Per row, (input, the fall in score when that input alone is set to its median) for
    each of its candidate inputs: one scoring call over the rows as they are and every row
    and input changed, at once."""
    positions = [(i, name) for i, names in enumerate(candidates) for name in names]
    if not positions:
        return [[] for _ in range(len(features))]
    values = features.to_numpy(dtype=np.float64)
    # The rows as they are first, then one changed row per (row, input).
    stacked = np.vstack([values, values[[i for i, _ in positions]]])
    n = len(features)
    for k, (_, name) in enumerate(positions):
        stacked[n + k, features.columns.get_loc(name)] = typical.median[name]
    index = features.index.take(np.r_[np.arange(n), [i for i, _ in positions]])
    scores = np.asarray(
        score(pd.DataFrame(stacked, index=index, columns=features.columns)), dtype=np.float64
    )
    base, changed = scores[:n], scores[n:]
    drops: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    for k, (i, name) in enumerate(positions):
        drops[i].append((name, float(base[i] - changed[k])))
    return drops
