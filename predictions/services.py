"""Writes of predictions: predicting KNRs with the active models, storing them, corrections."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from django.conf import settings
from django.utils import timezone

from crossline.domain import (
    FAIL_GROUPS,
    FAIL_KIND,
    KNR_MESSAGE,
    KNR_RE,
    fail_group_of,
)
from crossline.exceptions import InvalidInput, NotFound
from mlmodels.services import LoadedModel, get_active_models, mark_models_used
from plant.readers.columns import RESULTS
from plant.readers.report import ValidationReport
from plant.readers.sniff import sniff_export
from plant.readers.validation import DEFAULT_CHUNK_ROWS, iter_clean_chunks
from plant.selectors import (
    get_indicated_tests,
    get_results_frame,
    list_knrs_tested_since,
)
from predictions.explanations import explain_vehicles
from predictions.models import Prediction
from predictions.store import record_explanation, store_predictions
from predictions.worklist import (
    flag_on_arrival,
    get_list_policy,
    policy_flags,
    risk_of,
    settle_days,
)
from training.pipeline.estimators import predict_positive

logger = logging.getLogger(__name__)

# KNRs predicted and stored together: bounds memory and the size of one `IN` query.
PREDICT_BATCH = 1000

Progress = Callable[[int], None]


def indicated_tests_for(codes: Iterable[int]) -> list[str]:
    """The inspections to run for these fail groups, in group order, without repeats."""
    wanted = [int(c) for c in codes]
    if not wanted:
        return []
    return _inspections_for(wanted, get_indicated_tests(wanted))


def _inspections_for(codes: Iterable[int], mapping: dict[int, list[str]]) -> list[str]:
    tests: list[str] = []
    for code in codes:
        for name in mapping.get(int(code), []):
            if name not in tests:
                tests.append(name)
    return tests


def produced_at(results: pd.DataFrame) -> dict[str, datetime | None]:
    """KNR → its last test time (its production time in the statistics), aware in TIME_ZONE."""
    if "DATA" not in results or results.empty:
        return {}
    moments = results["DATA"].to_numpy()
    if moments.dtype.kind == "M":
        # numpy, not a pandas groupby: a third of a millisecond of every one-KNR request.
        codes, knrs = pd.factorize(results["KNR"], sort=False)
        named = codes >= 0
        # NaT is the smallest int64: the maximum skips it unless a KNR has no time at all.
        stamps = np.full(len(knrs), np.iinfo(np.int64).min)
        np.maximum.at(stamps, codes[named], moments.view("int64")[named])
        last = zip(knrs, stamps.view(moments.dtype), strict=True)
    else:
        last = results.groupby("KNR", sort=False)["DATA"].max().items()
    tz = timezone.get_default_timezone()
    return {
        str(knr): None if pd.isna(moment) else timezone.make_aware(
            pd.Timestamp(moment).to_pydatetime(), tz
        )
        for knr, moment in last
    }


def group_kinds(models: dict[str, LoadedModel]) -> list[tuple[str, int]]:
    """(kind, fail group) of every active group model, by fail group."""
    kinds = [(kind, code) for kind in models if (code := fail_group_of(kind)) is not None]
    return sorted(kinds, key=lambda pair: pair[1])


def _aligned(scores: pd.Series, knrs: pd.Index) -> np.ndarray:
    # Kinds whose feature rows were built once share that frame's index: reindexing onto it
    # cost 90 µs a kind in every one-KNR request.
    return scores.to_numpy() if scores.index is knrs else scores.reindex(knrs).to_numpy()


def predict_frame(
    results: pd.DataFrame,
    *,
    models: dict[str, LoadedModel] | None = None,
    features: dict[Any, pd.DataFrame] | None = None,
    inspections: dict[int, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Predict every KNR in normalised test-result rows; one dict per KNR, by KNR.

    Flagged as each kind's threshold policy says; `flag_and_store` then applies the
    inspection capacity, if one is set. `features` collects the feature rows built;
    `inspections` are the fail groups' indicated tests, if the caller read them already."""
    models = models if models is not None else get_active_models()
    if results.empty:
        return []
    fail = models.get(FAIL_KIND)
    groups = group_kinds(models)
    # Versions trained together share their fitted feature builder: built once for all.
    features = features if features is not None else {}
    # assume_finite: NaN is handled by each pipeline's own imputer or trees; skipping sklearn's
    # repeated finiteness scans is most of the fixed cost of a one-vehicle request.
    with sklearn.config_context(assume_finite=True):
        scores = {
            kind: predict_positive(loaded.pipeline, results, features=features, any_size=True)
            for kind, loaded in models.items()
        }
    knrs = next(iter(scores.values())).index
    # No fails-at-all model able to predict: no probability, never a guess.
    p_fail = _aligned(scores[FAIL_KIND], knrs) if fail is not None else None
    group_proba = {code: _aligned(scores[kind], knrs) for kind, code in groups}
    versions = {kind: loaded.version.model_name for kind, loaded in models.items()}
    thresholds = {kind: loaded.version.threshold for kind, loaded in models.items()}
    # The plant's fail groups (and any the team added inspections for): those without a model
    # able to predict are "no model", never guessed.
    if inspections is None:
        inspections = get_indicated_tests()
    modelled = {code for _, code in groups}
    no_model = sorted((set(FAIL_GROUPS) | set(inspections)) - modelled)
    produced = produced_at(results)
    rows: list[dict[str, Any]] = []
    for i, knr in enumerate(knrs):
        probabilities = {str(code): round(float(group_proba[code][i]), 6) for _, code in groups}
        # No fails-at-all model able to predict: no probability, never a guess.
        fail_probability = round(float(p_fail[i]), 6) if fail is not None else None
        inspected = {c: p for c, p in probabilities.items() if inspections.get(int(c))}
        risk = risk_of(fail_probability, inspected)
        rows.append(
            {
                "knr": str(knr),
                "p_fail": fail_probability,
                "risk": None if risk is None else round(risk, 6),
                # As each kind's threshold policy says; the capacity, if set, decides later.
                **policy_flags(fail_probability, probabilities, thresholds, inspections),
                "probabilities": probabilities,
                "no_model_groups": no_model,
                "model_versions": versions,
                "produced_at": produced.get(str(knr)),
                "explanation": [],
            }
        )
    return rows


def flag_and_store(results: pd.DataFrame, *, models: dict[str, LoadedModel]) -> list[Prediction]:
    """Predict these result rows, flag them, explain the flagged and store. With an inspection
    capacity (the worklist), each production day they fell on is kept within its cap once
    they are stored, and those the list then holds are explained."""
    features: dict[Any, pd.DataFrame] = {}
    inspections = get_indicated_tests()
    rows = predict_frame(results, models=models, features=features, inspections=inspections)
    if not rows:
        return []
    policy = get_list_policy(models)
    if not policy.capacity.is_set:
        # Each kind's threshold flags for good: the flagged vehicles' reasons are stored with
        # their predictions, in the same write.
        flagged = [row for row in rows if row["predicted_fail"]]
        reasons = explain_vehicles(flagged, models, features, results)
        for row in flagged:
            row["explanation"] = reasons.get(row["knr"], [])
        return store_predictions(rows)
    flag_on_arrival(rows, policy, inspections)
    stored = store_predictions(rows)
    by_knr = {p.knr: p for p in stored}
    for knr, fields in settle_days(stored, policy, inspections).items():
        if knr in by_knr:
            for name, value in fields.items():
                setattr(by_knr[knr], name, value)
    # Once the day is settled: only the vehicles the list finally holds are explained.
    flagged = [{"knr": p.knr, "probabilities": p.probabilities} for p in stored
               if p.predicted_fail]
    for knr, reasons in explain_vehicles(flagged, models, features, results).items():
        record_explanation(by_knr[knr], reasons)
    return stored


def _used_versions(models: dict[str, LoadedModel]) -> None:
    mark_models_used([loaded.version for loaded in models.values()])


def validate_knrs(knrs: Iterable[str]) -> list[str]:
    """Strip and deduplicate KNRs; InvalidInput for one not of the form YYYY-NNNNNNN."""
    cleaned = list(dict.fromkeys(str(k).strip() for k in knrs))
    bad = [k for k in cleaned if not KNR_RE.fullmatch(k)]
    if bad:
        raise InvalidInput(f"Not a KNR: {', '.join(bad[:5])}. {KNR_MESSAGE}")
    return cleaned


def predict_knrs(*, knrs: list[str]) -> list[Prediction]:
    """Predict these KNRs from their stored test results with the active models, and store."""
    knrs = validate_knrs(knrs)
    # Models first: with no active model (or a tampered one) nothing is read or stored.
    models = get_active_models()
    results = get_results_frame(knrs)
    found = set(results["KNR"].unique())
    missing = [k for k in knrs if k not in found]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise NotFound(f"No stored test results for KNR {shown}.")
    predictions = flag_and_store(results, models=models)
    _used_versions(models)
    return predictions


def predict_results_file(
    path: str | Path, *, filename: str, on_progress: Progress | None = None
) -> list[Prediction]:
    """Predict every KNR of a test-results export, without storing its rows as a dataset."""
    models = get_active_models()
    results = read_results_file(path, filename=filename)
    return predict_and_store(results, models=models, on_progress=on_progress)


def read_results_file(path: str | Path, *, filename: str) -> pd.DataFrame:
    """A test-results export's accepted rows, normalised; InvalidUpload if none is usable."""
    report = ValidationReport(kind=RESULTS, filename=filename)
    chunks = list(results_chunks(path, filename=filename, report=report))
    report.refuse_if_nothing_accepted()
    return pd.concat(chunks, ignore_index=True)


def results_chunks(
    path: str | Path, *, filename: str, report: ValidationReport,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """A test-results export's accepted rows chunk by chunk: sniffed once, then read."""
    info = sniff_export(
        path, filename=filename, kind=RESULTS, max_bytes=settings.CROSSLINE_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.CROSSLINE_MAX_UNCOMPRESSED_BYTES,
    )
    return iter_clean_chunks(info, report=report, chunk_rows=chunk_rows)


def predict_and_store(
    results: pd.DataFrame,
    *,
    models: dict[str, LoadedModel],
    on_progress: Progress | None = None,
) -> list[Prediction]:
    """Predict and store every KNR of these result rows, PREDICT_BATCH KNRs at a time."""
    knrs = list(dict.fromkeys(results["KNR"]))
    by_knr = results.groupby("KNR", sort=False).indices if len(knrs) > PREDICT_BATCH else None
    stored: list[Prediction] = []
    for begin in range(0, len(knrs), PREDICT_BATCH):
        if by_knr is None:
            part = results
        else:
            rows = [i for knr in knrs[begin : begin + PREDICT_BATCH] for i in by_knr[knr]]
            part = results.iloc[rows]
        stored.extend(flag_and_store(part, models=models))
        if on_progress:
            on_progress(len(stored))
    _used_versions(models)
    return stored


def predict_since(since: datetime, *, on_progress: Progress | None = None) -> list[Prediction]:
    """Predict every vehicle whose first test was at or after `since`."""
    models = get_active_models()
    knrs = list_knrs_tested_since(since)
    return predict_stored_knrs(knrs, models=models, on_progress=on_progress)


def predict_stored_knrs(
    knrs: list[str], *, models: dict[str, LoadedModel], on_progress: Progress | None = None
) -> list[Prediction]:
    """Predict and store these KNRs from their stored test results, PREDICT_BATCH at a time."""
    stored: list[Prediction] = []
    for begin in range(0, len(knrs), PREDICT_BATCH):
        results = get_results_frame(knrs[begin : begin + PREDICT_BATCH])
        stored.extend(flag_and_store(results, models=models))
        if on_progress:
            on_progress(len(stored))
    _used_versions(models)
    return stored


def explain_flagged_anew(knrs: list[str], *, models: dict[str, LoadedModel]) -> int:
    """Reasons for these vehicles, put on the worklist from their stored risk (a new capacity)
    rather than predicted again: those still without reasons and predicted by versions all
    still active are explained by them, PREDICT_BATCH at a time. Returns how many."""
    active = {kind: loaded.version.model_name for kind, loaded in models.items()}
    explained = 0
    for begin in range(0, len(knrs), PREDICT_BATCH):
        waiting = [
            p for p in Prediction.objects.filter(
                knr__in=knrs[begin : begin + PREDICT_BATCH], predicted_fail=True
            )
            if not p.explanation and p.model_versions
            and all(active.get(kind) == name for kind, name in p.model_versions.items())
        ]
        if not waiting:
            continue
        results = get_results_frame([p.knr for p in waiting])
        rows = [{"knr": p.knr, "probabilities": p.probabilities or {}} for p in waiting]
        reasons = explain_vehicles(rows, models, {}, results)
        for prediction in waiting:
            if prediction.knr in reasons:
                record_explanation(prediction, reasons[prediction.knr])
                explained += 1
    return explained


def update_prediction(*, prediction: Prediction, data: dict[str, Any]) -> Prediction:
    """Correct a prediction by hand: its indicated tests or its real fail codes."""
    for name in ("indicated_tests", "real_fail_codes"):
        if name in data:
            setattr(prediction, name, data[name])
    if "real_fail_codes" in data:
        prediction.feedback_at = timezone.now() if data["real_fail_codes"] is not None else None
    prediction.save(update_fields=["indicated_tests", "real_fail_codes", "feedback_at"])
    return prediction


def delete_prediction(*, prediction: Prediction) -> None:
    """Delete a KNR's current prediction (its history stays)."""
    prediction.delete()
