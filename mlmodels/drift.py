"""Input drift per production month: a compact reference of the columns a model reads, a
month's binned counts, and the distance between the two (Evidently's and NannyML's defaults).

Plain Python over DataFrames (no Django): training builds the reference once from the
vehicles it learned from; checking a month summarises that month's feature rows into counts
per bin, then compares bins with bins, so its cost follows columns × bins, not rows.

- A numeric column with more than `MAX_CATEGORIES` distinct values is scored by the normed
  Wasserstein distance (Evidently: W1 / max(reference std, 0.001)); any other column by the
  Jensen-Shannon distance in base 2 (NannyML's; bounded by 1; Evidently's natural-log value
  is 0.83 times it), with the month's values unseen in the reference in a bin of their own.
- NaN and ±inf are "missing": left out of both distances (Evidently's `data_drift.py`) and
  counted in the missing share, whose change is a drift signal of its own (a test that is no
  longer run leaves its columns empty, which no distance sees).
- A column's threshold comes from the reference months themselves: each month is scored
  against the whole reference, and the threshold is the larger of `THRESHOLD_FLOOR` and the
  mean + `THRESHOLD_SIGMAS` standard deviations of those scores (NannyML's rule, Evidently's
  0.1 as the floor). The missing share's threshold is built the same way.
- Columns constant in the reference are marked and skipped.
- A month with fewer than `MIN_VEHICLES` vehicles is too few to judge (NannyML's minimum
  chunk for drift). Otherwise the kind raises one alarm for the month when more of the
  `ALARM_TOP_COLUMNS` columns the model relies on most have drifted than chance explains: if
  each drifted independently with probability `CHANCE_DRIFT`, as many or more would drift in
  at most `ALARM_PROBABILITY` of months (a binomial tail; `alarm_count`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

FORMAT = 1
# Quantile bins per numeric column: 32 kept the binned distance within 0.01 of the exact one
# on the demo's columns where 20 bins did not (bench/results/drift_quality.md).
BINS = 32
# Evidently's split: up to 5 distinct values a column is treated as categorical.
MAX_CATEGORIES = 5
# Evidently's floor under the reference std in the normed Wasserstein distance.
STD_FLOOR = 0.001
THRESHOLD_FLOOR = 0.1
MISSING_THRESHOLD_FLOOR = 0.1
THRESHOLD_SIGMAS = 3.0
MIN_VEHICLES = 500
# NannyML warns when fewer reference chunks than this set the thresholds.
MIN_REFERENCE_MONTHS = 6
# A version's diagnostics keep the importances of its 50 first features (explain.TOP_FEATURES).
ALARM_TOP_COLUMNS = 50
# A column drifts by chance in about 1% of unshifted months on the demo data (0.3-0.4% of the
# columns the models rely on: bench/results/alarm_rules.md); the alarm needs more drifted
# columns than chance would give in one kind-month out of 1,000.
CHANCE_DRIFT = 0.01
ALARM_PROBABILITY = 0.001

NUMERIC = "numeric"
CATEGORICAL = "categorical"
CONSTANT = "constant"
WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensen_shannon"

TOO_FEW = "too_few"
NO_ALARM = "no_alarm"
ALARM = "alarm"


# --- the reference, at training time -----------------------------------------------------------


def build_reference(
    features: pd.DataFrame,
    months: pd.Series | Sequence[str],
    columns: Iterable[str] | None = None,
    importances: Mapping[str, float] | Iterable[Sequence[Any]] | None = None,
    *,
    bins: int = BINS,
    min_vehicles: int = MIN_VEHICLES,
) -> dict[str, Any]:
    """The compact, JSON-safe reference of `columns` (default: all) of the training vehicles.

    `months` gives each row's production month (`YYYY-MM`, aligned with `features`' rows);
    `importances` maps a column to its importance (or is a list of [column, importance]
    pairs, as a version's diagnostics store them); columns without one rank last. Months with
    fewer than `min_vehicles` vehicles set no threshold.
    """
    columns = list(features.columns if columns is None else columns)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"the features have no column {missing[0]!r}")
    month_of_row = month_labels(months, features.index)
    reference: dict[str, Any] = {
        "format": FORMAT,
        "bins": int(bins),
        "vehicles": len(features),
        "columns": {name: describe_column(features[name].to_numpy(), bins) for name in columns},
    }
    reference.update(rank_columns(reference, importances))
    scores = _reference_month_scores(features, month_of_row, reference, min_vehicles)
    reference["months"] = scores["months"]
    for name, column in reference["columns"].items():
        if column["kind"] == CONSTANT:
            continue
        column["month_scores"] = scores["scores"][name]
        column["month_missing_changes"] = scores["missing"][name]
        column["threshold"] = learned_threshold(scores["scores"][name], THRESHOLD_FLOOR)
        column["missing_threshold"] = learned_threshold(
            scores["missing"][name], MISSING_THRESHOLD_FLOOR
        )
    judged = [m for m, n in scores["months"].items() if n >= min_vehicles]
    reference["warnings"] = (
        [
            f"Only {len(judged)} training months with {min_vehicles} vehicles or more set the "
            f"thresholds (at least {MIN_REFERENCE_MONTHS} make them reliable); below that the "
            f"floor of {THRESHOLD_FLOOR} decides."
        ]
        if len(judged) < MIN_REFERENCE_MONTHS
        else []
    )
    return reference


def describe_column(values: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """One column's reference: its kind, missing share and bins or value shares."""
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    column: dict[str, Any] = {"missing": _share(len(x) - len(finite), len(x))}
    distinct = np.unique(finite)
    if len(distinct) <= 1:
        column.update(kind=CONSTANT, value=float(distinct[0]) if len(distinct) else None)
        return column
    if len(distinct) <= MAX_CATEGORIES:
        counts = np.array([np.count_nonzero(finite == v) for v in distinct])
        column.update(
            kind=CATEGORICAL,
            values=distinct.tolist(),
            shares=(counts / len(finite)).tolist(),
        )
        return column
    if len(distinct) <= bins:
        # Each bin holds one value: the binned distance is then exact.
        edges = distinct
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    counts, sums = _bin(finite, edges)[:2]
    column.update(
        kind=NUMERIC,
        std=float(np.std(finite)),
        edges=edges.tolist(),
        shares=(counts / len(finite)).tolist(),
        means=_means(counts, sums, edges).tolist(),
    )
    return column


def rank_columns(
    reference: Mapping[str, Any], importances: Mapping[str, float] | Iterable[Sequence[Any]] | None
) -> dict[str, Any]:
    """The columns in the order the model relies on them (`ranking`) and their importances.

    Kinds trained together share one feature builder, hence one set of bins: only this part
    of a reference differs between them.
    """
    names = list(reference["columns"])
    given: dict[str, float] = {}
    pairs = importances.items() if isinstance(importances, Mapping) else importances or []
    for name, value in pairs:
        # A model may read a column through a feature derived from it: `|x|`, the absolute
        # deviation of x (the sparse logistic candidate); x carries both importances.
        column = str(name)
        if column not in reference["columns"] and column.startswith("|") and column.endswith("|"):
            column = column[1:-1]
        given[column] = given.get(column, 0.0) + float(value)
    order = sorted(range(len(names)), key=lambda i: (-float(given.get(names[i], 0.0)), i))
    return {
        "ranking": [names[i] for i in order],
        "importance": {n: float(given[n]) for n in names if float(given.get(n, 0.0)) > 0},
    }


def learned_threshold(scores: Sequence[float | None], floor: float) -> float:
    """max(floor, mean + THRESHOLD_SIGMAS × std) of the reference months' scores."""
    present = np.array([s for s in scores if s is not None], dtype=np.float64)
    if not len(present):
        return floor
    return max(floor, float(present.mean() + THRESHOLD_SIGMAS * present.std()))


def _reference_month_scores(
    features: pd.DataFrame, month_of_row: np.ndarray, reference: dict[str, Any],
    min_vehicles: int,
) -> dict[str, Any]:
    months, month_codes = np.unique(month_of_row, return_inverse=True)
    counts = np.bincount(month_codes, minlength=len(months))
    result: dict[str, Any] = {
        "months": {str(m): int(n) for m, n in zip(months, counts, strict=True)},
        "scores": {name: [] for name in reference["columns"]},
        "missing": {name: [] for name in reference["columns"]},
    }
    for code in range(len(months)):
        # Months too small to judge would only widen the thresholds with sampling noise.
        if counts[code] < min_vehicles:
            continue
        compared = compare(summarise(features[month_codes == code], reference), reference)
        for name, column in compared["columns"].items():
            result["scores"][name].append(column["score"])
            result["missing"][name].append(abs(column["missing_change"]))
    return result


# --- a month, at checking time -------------------------------------------------------------------


def summarise(features: pd.DataFrame, reference: Mapping[str, Any]) -> dict[str, Any]:
    """A month's vehicles as counts in the reference's bins: JSON-safe, and additive
    (`merge_summaries`), so a month may be summarised in parts."""
    columns: dict[str, Any] = {}
    for name, ref in reference["columns"].items():
        if ref["kind"] == CONSTANT:
            continue
        if name not in features.columns:
            raise ValueError(f"the month's features have no column {name!r}")
        x = features[name].to_numpy(dtype=np.float64)
        finite = x[np.isfinite(x)]
        entry: dict[str, Any] = {"missing": len(x) - len(finite)}
        if ref["kind"] == NUMERIC:
            counts, sums, below, above = _bin(finite, np.asarray(ref["edges"]))
            entry.update(
                counts=counts.tolist(),
                sums=sums.tolist(),
                below=[int(len(below)), float(below.sum())],
                above=[int(len(above)), float(above.sum())],
            )
        else:
            values = np.asarray(ref["values"])
            position = np.clip(np.searchsorted(values, finite), 0, len(values) - 1)
            known = values[position] == finite
            counts = np.bincount(position[known], minlength=len(values))
            entry.update(counts=counts.tolist(), other=int(np.count_nonzero(~known)))
        columns[name] = entry
    return {"format": FORMAT, "vehicles": len(features), "columns": columns}


def merge_summaries(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of several parts of one month (disjoint vehicles, the same reference)."""
    merged: dict[str, Any] | None = None
    for part in summaries:
        if merged is None:
            merged = {"format": FORMAT, "vehicles": 0, "columns": {}}
        merged["vehicles"] += part["vehicles"]
        for name, entry in part["columns"].items():
            into = merged["columns"].get(name)
            if into is None:
                merged["columns"][name] = {k: _copy(v) for k, v in entry.items()}
                continue
            for key, value in entry.items():
                into[key] = _add(into[key], value)
    if merged is None:
        raise ValueError("no summaries to merge")
    return merged


def compare(summary: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    """Per column: the distance to the reference, its threshold, the missing shares, and
    whether it drifted (distance or missing-share change at or over its threshold)."""
    rank = {name: i + 1 for i, name in enumerate(reference["ranking"])}
    importance = reference.get("importance", {})
    columns: dict[str, Any] = {}
    for name, entry in summary["columns"].items():
        ref = reference["columns"][name]
        total = _entry_total(entry)
        present = total - entry["missing"]
        if ref["kind"] == NUMERIC:
            method = WASSERSTEIN
            score = _normed_wasserstein(entry, ref) if present else None
        else:
            method = JENSEN_SHANNON
            score = _jensen_shannon(entry, ref) if present else None
        missing_now = _share(entry["missing"], total)
        change = missing_now - ref["missing"]
        threshold = ref.get("threshold", THRESHOLD_FLOOR)
        missing_threshold = ref.get("missing_threshold", MISSING_THRESHOLD_FLOOR)
        by_distance = score is not None and score >= threshold
        by_missing = abs(change) >= missing_threshold
        columns[name] = {
            "method": method,
            "score": score,
            "threshold": threshold,
            "missing_reference": ref["missing"],
            "missing_now": missing_now,
            "missing_change": change,
            "missing_threshold": missing_threshold,
            "drifted": by_distance or by_missing,
            "by": [why for why, hit in (("distance", by_distance), ("missing", by_missing)) if hit],
            "rank": rank.get(name),
            "importance": importance.get(name, 0.0),
        }
    return {"vehicles": summary["vehicles"], "columns": columns}


def judge_month(
    comparison: Mapping[str, Any],
    reference: Mapping[str, Any],
    *,
    min_vehicles: int = MIN_VEHICLES,
    chance: float = CHANCE_DRIFT,
) -> dict[str, Any]:
    """The kind's verdict for the month: too few to judge (under `min_vehicles` vehicles), no
    alarm, or one alarm.

    The columns the model relies on most are the first `ALARM_TOP_COLUMNS` non-constant
    columns of the reference's ranking with an importance above 0 (all ranked columns when
    none has one); the alarm needs `alarm_count` of them drifted, each drifting by `chance`.
    """
    vehicles = int(comparison["vehicles"])
    columns = comparison["columns"]
    ranked = [name for name in reference["ranking"] if name in columns]
    relied = [name for name in ranked if reference.get("importance", {}).get(name, 0) > 0]
    considered = (relied or ranked)[:ALARM_TOP_COLUMNS]
    drifted = [name for name in considered if columns[name]["drifted"]]
    share = len(drifted) / len(considered) if considered else 0.0
    needed = alarm_count(len(considered), chance)
    if vehicles < min_vehicles:
        status = TOO_FEW
    elif len(drifted) >= needed:
        status = ALARM
    else:
        status = NO_ALARM
    return {
        "status": status,
        "alarm": status == ALARM,
        "vehicles": vehicles,
        "considered": considered,
        "drifted": drifted,
        "drifted_share": share,
        "alarm_share": needed / len(considered) if considered else None,
        "chance": chance_of_at_least(len(drifted), len(considered), chance),
        "all_drifted": [name for name in ranked if columns[name]["drifted"]],
        "rule": (
            f"alarm when {needed} of the {len(considered)} columns the model relies on most "
            f"have drifted (chance under {ALARM_PROBABILITY:.1%} if each drifts in "
            f"{chance:.0%} of months); {min_vehicles} vehicles at least"
        ),
    }


def chance_of_at_least(drifted: int, columns: int, rate: float = CHANCE_DRIFT) -> float:
    """The chance that `drifted` or more of `columns` drift when each does, independently,
    with probability `rate`: the binomial tail."""
    return float(sum(
        math.comb(columns, k) * rate**k * (1 - rate) ** (columns - k)
        for k in range(max(drifted, 0), columns + 1)
    ))


def alarm_count(columns: int, chance: float = CHANCE_DRIFT) -> int:
    """The fewest drifted columns among `columns` that chance explains in at most
    `ALARM_PROBABILITY` of months (`columns` + 1, never, when even all of them would not:
    a model relying on one column cannot alarm on it alone when it drifts in 1% of months)."""
    for drifted in range(1, columns + 1):
        if chance_of_at_least(drifted, columns, chance) <= ALARM_PROBABILITY:
            return drifted
    return columns + 1


def check_month(
    features: pd.DataFrame, reference: Mapping[str, Any], *, min_vehicles: int = MIN_VEHICLES
) -> dict[str, Any]:
    """summarise → compare → judge_month, for a month whose feature rows are at hand."""
    comparison = compare(summarise(features, reference), reference)
    return {
        "comparison": comparison,
        "judgement": judge_month(comparison, reference, min_vehicles=min_vehicles),
    }


# --- the distances -----------------------------------------------------------------------------


def wasserstein_between_atoms(
    positions_a: np.ndarray, weights_a: np.ndarray, positions_b: np.ndarray, weights_b: np.ndarray
) -> float:
    """W1 between two weighted point sets (each weight set sums to 1): ∫ |F_a − F_b|."""
    positions = np.concatenate([positions_a, positions_b])
    mass = np.concatenate([weights_a, -np.asarray(weights_b)])
    order = np.argsort(positions, kind="stable")
    difference = np.cumsum(mass[order])[:-1]
    return float(np.sum(np.abs(difference) * np.diff(positions[order])))


def jensen_shannon_distance(p: np.ndarray, q: np.ndarray) -> float:
    """√JSD in base 2 of two distributions (normalised here): 0 equal, 1 disjoint."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    divergence = 0.5 * (_kl_base2(p, m) + _kl_base2(q, m))
    return math.sqrt(max(divergence, 0.0))


def _normed_wasserstein(entry: Mapping[str, Any], ref: Mapping[str, Any]) -> float:
    """The month's bins against the reference's, each bin's mass at its mean; values below or
    above the reference's range at their own mean, which makes the tails exact."""
    counts = np.asarray(entry["counts"], dtype=np.float64)
    sums = np.asarray(entry["sums"], dtype=np.float64)
    (below_n, below_sum), (above_n, above_sum) = entry["below"], entry["above"]
    weights = np.concatenate([[below_n], counts, [above_n]])
    positions = np.concatenate(
        [[below_sum / below_n if below_n else 0.0], _means(counts, sums, np.asarray(ref["edges"])),
         [above_sum / above_n if above_n else 0.0]]
    )
    kept = weights > 0
    distance = wasserstein_between_atoms(
        np.asarray(ref["means"]),
        np.asarray(ref["shares"]),
        positions[kept],
        weights[kept] / weights.sum(),
    )
    return distance / max(float(ref["std"]), STD_FLOOR)


def _jensen_shannon(entry: Mapping[str, Any], ref: Mapping[str, Any]) -> float:
    # NannyML's leftover bin: the month's values the reference never had.
    current = np.append(np.asarray(entry["counts"], dtype=np.float64), entry["other"])
    expected = np.append(np.asarray(ref["shares"], dtype=np.float64), 0.0)
    return jensen_shannon_distance(expected, current)


def _kl_base2(p: np.ndarray, m: np.ndarray) -> float:
    present = p > 0
    return float(np.sum(p[present] * np.log2(p[present] / m[present])))


# --- helpers -----------------------------------------------------------------------------------


def _bin(
    values: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts and sums per bin [e_i, e_i+1), the last bin being the top edge's value itself,
    and the values below and above the edges."""
    index = np.searchsorted(edges, values, side="right") - 1
    below = values < edges[0]
    above = values > edges[-1]
    inside = ~(below | above)
    counts = np.bincount(index[inside], minlength=len(edges))
    sums = np.bincount(index[inside], weights=values[inside], minlength=len(edges))
    return counts, sums, values[below], values[above]


def _means(counts: np.ndarray, sums: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each bin's mean; an empty bin's left edge (it carries no weight)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), edges)


def _entry_total(entry: Mapping[str, Any]) -> int:
    total = int(sum(entry["counts"])) + int(entry["missing"])
    if "other" in entry:
        return total + int(entry["other"])
    return total + int(entry["below"][0]) + int(entry["above"][0])


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def month_labels(months: pd.Series | Sequence[Any], index: pd.Index) -> np.ndarray:
    """Each feature row's month as `YYYY-MM`: from a Series keyed like the rows (months or
    production times), or a sequence in row order."""
    if isinstance(months, pd.Series):
        months = months.reindex(index)
    series = pd.Series(list(months) if not isinstance(months, pd.Series) else months.to_numpy())
    if len(series) != len(index):
        raise ValueError(f"months has {len(series)} values for {len(index)} feature rows")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.strftime("%Y-%m").fillna("unknown").to_numpy(dtype=object).astype(str)
    return series.fillna("unknown").astype(str).to_numpy()


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [x + y for x, y in zip(a, b, strict=True)]
    return a + b
