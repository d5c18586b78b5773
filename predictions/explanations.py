"""Why a vehicle is on the worklist: the test results that raised its risk most, in the team's
words ("SECTION_ZP8_00000001 screw 2 torque 31.2 Nm, typical 25.8").

Each of the inputs tried (the risk model's strongest, then the vehicle's readings furthest from
their median) is set to its typical value (the training median the version keeps) in turn;
the inputs whose typical value lowers the risk most are the reasons. A vehicle none of them
explains has every input the model reads tried.
Computed when predicting, for the vehicles flagged, in one scoring call per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crossline.domain import FAIL_KIND, group_kind
from crossline.numbers import significant
from mlmodels.services import LoadedModel
from training.pipeline.estimators import columns_read, positive_scores
from training.pipeline.line_times import SHIFT_START_HOUR
from training.pipeline.reasons import (
    FeatureName,
    Typical,
    candidate_inputs,
    parse_feature_name,
    risk_drops,
    strongest_inputs,
    typical_values,
)

# Inputs tried per vehicle: the version's strongest, then the vehicle's readings furthest from
# their median; reasons kept: a few, each lowering the risk by at least a point when typical
# (or, when none does, the one lowering it most).
STRONGEST_TRIED = 4
INPUTS_TRIED = 10
REASONS_KEPT = 3
MIN_DROP = 0.01

# Family IDs as the plant numbers them: 2 is screwing (a section's screws are its sub-results).
SCREWING = 2
QUANTITIES = {"nm": "torque", "grad": "angle", "deg": "angle", "°": "angle", "v": "voltage"}
AGGREGATE_WORDS = {
    "n_results": "results in all",
    "n_nok": "NOK results",
    "n_tests": "tests run",
    "n_nok_tests": "tests with a NOK result",
    "n_retests": "tests run again",
    "n_other_tests": "tests outside the model's list",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def explain_vehicles(
    rows: list[dict[str, Any]],
    models: dict[str, LoadedModel],
    features: dict[Any, pd.DataFrame],
    results: pd.DataFrame,
) -> dict[str, list[dict[str, Any]]]:
    """KNR → its reasons, for these predicted rows (`knr`, `probabilities`): by the fail
    model, whose probability is the risk; without one, by each vehicle's most likely group's.

    `features` are the feature rows prediction built, by feature builder."""
    if not rows:
        return {}
    by_kind: dict[str, list[str]] = {}
    for row in rows:
        kind = FAIL_KIND if FAIL_KIND in models else _likeliest_kind(row["probabilities"])
        if kind in models:
            by_kind.setdefault(kind, []).append(row["knr"])
    explained: dict[str, list[dict[str, Any]]] = {}
    for kind, knrs in by_kind.items():
        frame = _feature_rows(models[kind], features, results)
        present = [knr for knr in knrs if knr in frame.index]
        if not present:
            continue
        if present == frame.index.tolist():
            # Every vehicle predicted is explained (one KNR, mostly): no rows to select.
            explained.update(explain(models[kind], frame, results))
        else:
            explained.update(
                explain(models[kind], frame.loc[present], results[results["KNR"].isin(present)])
            )
    return explained


def _likeliest_kind(probabilities: dict[str, float]) -> str:
    if not probabilities:
        return ""
    code = max(probabilities, key=lambda c: float(probabilities[c]))
    return group_kind(int(code))


def _feature_rows(
    model: LoadedModel, features: dict[Any, pd.DataFrame], results: pd.DataFrame
) -> pd.DataFrame:
    """The model's feature rows: those prediction built with its builder, else built now."""
    builder = model.pipeline.steps[0][1]
    key = getattr(builder, "fingerprint_", None) or id(builder)
    if key not in features:
        features[key] = builder.transform(results)
    return features[key]


def explain(
    model: LoadedModel, features: pd.DataFrame, results: pd.DataFrame
) -> dict[str, list[dict[str, Any]]]:
    """KNR → its reasons (strongest first), for the vehicles of `features` (the risk model's
    feature rows); `results` are their test-result rows (for units)."""
    if features.empty:
        return {}
    typical = typical_values(model.pipeline)
    strongest = strongest_inputs(model.version.diagnostics, STRONGEST_TRIED)
    estimator = model.pipeline[1:]

    def score(frame: pd.DataFrame) -> np.ndarray:
        return positive_scores(estimator, frame, any_size=True)

    candidates = candidate_inputs(features, typical, strongest, INPUTS_TRIED)
    reasons = [_kept(row) for row in risk_drops(score, features, candidates, typical)]
    unexplained = [i for i, kept in enumerate(reasons) if not kept]
    if unexplained:
        # None of the inputs tried lowers these vehicles' risk: it comes from inputs neither
        # among the strongest nor far from their median (through a group model the fail
        # model joins, say). Every input the model reads is tried for them.
        every = _inputs_read(estimator, features, typical)
        wider = risk_drops(score, features.iloc[unexplained], [every] * len(unexplained), typical)
        for i, row in zip(unexplained, wider, strict=True):
            reasons[i] = _kept(row)
    named = {parse_feature_name(name).test for kept in reasons for name, _ in kept}
    units = _units(results, named - {""})
    explained: dict[str, list[dict[str, Any]]] = {}
    for row, knr in enumerate(features.index):
        explained[str(knr)] = [
            _reason(name, features.iat[row, features.columns.get_loc(name)],
                    typical.median[name], drop, units.get(str(knr), {}))
            for name, drop in reasons[row]
        ]
    return explained


def _kept(drops: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The reasons among one vehicle's (input, risk drop): a few lowering the risk by at least
    a point; a low risk raised by less than a point still names what raised it most."""
    largest = sorted(drops, key=lambda item: -item[1])
    kept = [(name, drop) for name, drop in largest[:REASONS_KEPT] if drop >= MIN_DROP]
    return kept or [(name, drop) for name, drop in largest[:1] if drop > 0]


def _inputs_read(estimator: Any, features: pd.DataFrame, typical: Typical) -> list[str]:
    """The feature columns the estimator reads that have a typical value (every such column
    when which it reads is not known)."""
    read = columns_read(estimator)
    names = features.columns if read is None else features.columns[read]
    return [name for name in names if name in typical.median]


def _units(
    results: pd.DataFrame, tests: set[str]
) -> dict[str, dict[tuple[str, int | None], str]]:
    """KNR → (test NAME, family) → its unit as the rows give it (blank: none), for these
    tests (NAME): the reasons name a few of a vehicle's hundreds."""
    if results.empty or "UNIT" not in results or not tests:
        return {}
    # Plain lists: pandas' selection of a few hundred rows cost more than the reasons.
    knrs, names, families, units = (
        results[column].to_numpy(dtype=object, na_value=None)
        for column in ("KNR", "NAME", "ID", "UNIT")
    )
    found: dict[str, dict[tuple[str, int | None], str]] = {}
    for i, name in enumerate(names.tolist()):
        name = str(name).strip()
        if name not in tests or units[i] is None:
            continue
        unit = str(units[i]).strip()
        if unit:
            family = None if families[i] is None else int(families[i])
            found.setdefault(str(knrs[i]), {}).setdefault((name, family), unit)
    return found


def _reason(
    name: str, reading: float, typical: float, drop: float,
    units: dict[tuple[str, int | None], str],
) -> dict[str, Any]:
    parts = parse_feature_name(name)
    unit = units.get((parts.test, parts.family), "") if parts.test else ""
    return {
        "feature": name,
        "test": parts.test,
        "value_id": parts.sub,
        "unit": unit,
        "reading": None if pd.isna(reading) else float(reading),
        "typical": float(typical),
        "risk_drop": round(drop, 4),
        "text": describe(parts, reading, typical, unit),
    }


def describe(parts: FeatureName, reading: float, typical: float, unit: str) -> str:
    """One reason in the team's words."""
    if parts.kind in AGGREGATE_WORDS:
        return f"{AGGREGATE_WORDS[parts.kind]} {_number(reading)}, typical {_number(typical)}"
    if not parts.test:
        return _time_words(parts.kind, reading, typical)
    screws = parts.family == SCREWING
    quantity = QUANTITIES.get(unit.lower(), "")
    if parts.kind == "last_nok":
        return (f"{parts.test} last result {_status(reading)}, typical {_status(typical)}")
    if parts.kind == "runs":
        return f"{parts.test} run {_number(reading)} times, typical {_number(typical)}"
    if parts.kind in ("min", "max", "mean"):
        which = {"min": "lowest", "max": "highest", "mean": "mean"}[parts.kind]
        what = " ".join(w for w in ("screw" if screws else "", quantity or "value") if w)
        return (f"{parts.test} {which} {what} {_number(reading, unit)}, "
                f"typical {_number(typical)}")
    sub = "" if parts.sub in ("", "0") else f"{'screw' if screws else 'value'} {parts.sub}"
    label = " ".join(w for w in (parts.test, sub, quantity) if w)
    return f"{label} {_number(reading, unit)}, typical {_number(typical)}"


def _number(value: float, unit: str = "") -> str:
    if pd.isna(value):
        return "not measured"
    return f"{significant(float(value))} {unit}".strip()


def _status(value: float) -> str:
    if pd.isna(value):
        return "not run"
    return "NOK" if value >= 0.5 else "OK"


def _time_words(kind: str, reading: float, typical: float) -> str:
    if pd.isna(reading):
        return f"{kind} not known"
    if kind == "hour":
        return f"first test at {_clock(reading)}, typical {_clock(typical)}"
    if kind == "weekday":
        return f"tested on a {WEEKDAYS[int(reading) % 7]}, typical {WEEKDAYS[int(typical) % 7]}"
    if kind == "shift":
        first = SHIFT_START_HOUR
        return f"shift {int(reading) + 1} (from {first:02d}:00, 8 hours each), typical shift " \
            f"{int(typical) + 1}"
    if kind == "shift_minutes":
        return f"{_number(reading)} minutes into its shift, typical {_number(typical)}"
    if kind == "line_minutes":
        return f"{_number(reading)} minutes on the line, typical {_number(typical)}"
    return f"{kind} {_number(reading)}, typical {_number(typical)}"


def _clock(hours: float) -> str:
    minutes = int(round(hours * 60)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
