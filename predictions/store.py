"""Storing predictions: a KNR's earlier prediction is kept in its history exactly once.

Without multi-document transactions (MongoDB has none), a write is made safe to retry rather
than all or nothing: each replaced prediction's history row is keyed by (KNR, the replaced
prediction's generation) and written before the replacement, a duplicate insert being
ignored; the replacement itself is a compare-and-set on that generation. A write that fails
part-way and is retried leaves exactly one history row per replaced prediction, and every
prediction current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from crossline.domain import frame_codes
from crossline.exceptions import Conflict
from predictions.feedback import recorded_fail_groups
from predictions.models import Prediction, PredictionHistory

# Each failed compare-and-set means another writer replaced the prediction meanwhile, so this
# bounds only how many writers of one KNR may race at once.
REPLACE_ATTEMPTS = 20

# What a replacement writes; the feedback (real fail codes) belongs to the vehicle, not to one
# prediction: it is written only from defects recorded for the vehicle.
REPLACED_FIELDS = [
    "p_fail", "risk", "predicted_fail", "flagged_by", "probabilities", "predicted_fail_codes",
    "predicted_codes_text", "no_model_groups", "indicated_tests", "model_versions",
    "explanation", "produced_at", "created_at",
]
FEEDBACK_FIELDS = ["real_fail_codes", "feedback_at"]


def write_time() -> datetime:
    """Now, to the millisecond: MongoDB keeps milliseconds, so a writer finds its own rows."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def store_predictions(rows: list[dict[str, Any]]) -> list[Prediction]:
    """Store predictions (one dict per KNR, as `predict_frame` returns them); a KNR predicted
    before has its earlier prediction moved to history. Safe to retry after any failure.

    Defects recorded for a vehicle before it was predicted reach its prediction here (those
    recorded later, through `feedback.record_feedback`)."""
    if not rows:
        return []
    now = write_time()
    knrs = [row["knr"] for row in rows]
    recorded = recorded_fail_groups(knrs)
    rows = [{**row, "real_fail_codes": recorded.get(row["knr"])} for row in rows]
    existing = {p.knr: p for p in Prediction.objects.filter(knr__in=knrs)}
    replacing = [row for row in rows if row["knr"] in existing]
    fresh = [row for row in rows if row["knr"] not in existing]
    # History first: a failure after it leaves rows a retry finds, never duplicates.
    keep_history([existing[row["knr"]] for row in replacing], now=now)
    stored = [replace_prediction(existing[row["knr"]], row, now=now) for row in replacing]
    stored.extend(_insert(fresh, now=now))
    order = {knr: i for i, knr in enumerate(knrs)}
    return sorted(stored, key=lambda p: order[p.knr])


def keep_history(previous: list[Prediction], *, now: datetime) -> None:
    """One history row per prediction about to be replaced; rows already kept (a retry, or a
    writer racing this one) are left as they are."""
    if not previous:
        return
    kept = set(
        PredictionHistory.objects.filter(knr__in=[p.knr for p in previous]).values_list(
            "knr", "generation"
        )
    )
    missing = [_history(p, now) for p in previous if (p.knr, p.generation) not in kept]
    if not missing:
        return
    try:
        # A savepoint on SQLite, so that a refused insert leaves the connection usable.
        with transaction.atomic():
            PredictionHistory.objects.bulk_create(missing, batch_size=500)
    except IntegrityError:
        # Another writer kept some of them meanwhile: each row on its own, duplicates ignored
        # (the bulk insert may have written some before it stopped).
        for row in missing:
            row.pk = None
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except IntegrityError:
                pass


def replace_prediction(previous: Prediction, row: dict[str, Any], *, now: datetime) -> Prediction:
    """Replace `previous` (whose history row is kept) by a compare-and-set on its generation;
    when another writer replaced it meanwhile, keep that one's history too and try again."""
    for _attempt in range(REPLACE_ATTEMPTS):
        current = _with_row(previous, row, now)
        current.generation = previous.generation + 1
        # Feedback only when defects are recorded: a correction made by hand stays.
        feedback = FEEDBACK_FIELDS if row.get("real_fail_codes") else []
        moved = Prediction.objects.filter(pk=previous.pk, generation=previous.generation).update(
            generation=current.generation,
            **{name: getattr(current, name) for name in (*REPLACED_FIELDS, *feedback)},
        )
        if moved == 1:
            return current
        previous = Prediction.objects.filter(knr=row["knr"]).first()
        if previous is None:
            # Deleted meanwhile: this prediction is the KNR's first again.
            return _insert([row], now=now)[0]
        keep_history([previous], now=now)
    raise Conflict(f"Could not store the prediction of {row['knr']}: too many concurrent writes.")


def _insert(rows: list[dict[str, Any]], *, now: datetime) -> list[Prediction]:
    """Predictions of KNRs with none; a KNR another writer predicted meanwhile is replaced."""
    if not rows:
        return []
    fresh = [new_prediction(row, now) for row in rows]
    try:
        with transaction.atomic():
            Prediction.objects.bulk_create(fresh, batch_size=500)
        return fresh
    except IntegrityError:
        pass
    # Someone stored one of these KNRs between our read and our write (and the bulk insert may
    # have written some of ours before it stopped): each KNR on its own.
    by_knr = {row["knr"]: row for row in rows}
    stored = []
    for prediction in fresh:
        prediction.pk = None
        try:
            with transaction.atomic():
                prediction.save(force_insert=True)
            stored.append(prediction)
            continue
        except IntegrityError:
            pass
        previous = Prediction.objects.get(knr=prediction.knr)
        if _is_ours(previous, prediction):
            stored.append(previous)
            continue
        keep_history([previous], now=now)
        stored.append(replace_prediction(previous, by_knr[prediction.knr], now=now))
    return stored


def _is_ours(stored: Prediction, written: Prediction) -> bool:
    """Whether a stored first prediction is the one this write inserted before it stopped."""
    return (stored.generation, stored.created_at, stored.model_versions, stored.p_fail) == (
        1, written.created_at, written.model_versions, written.p_fail
    )


def new_prediction(row: dict[str, Any], now: datetime) -> Prediction:
    """An unsaved first prediction of a KNR from one `predict_frame` row."""
    return Prediction(
        knr=row["knr"],
        p_fail=row["p_fail"],
        risk=row.get("risk"),
        predicted_fail=row["predicted_fail"],
        flagged_by=row.get("flagged_by", []),
        probabilities=row["probabilities"],
        predicted_fail_codes=row["predicted_fail_codes"],
        predicted_codes_text=frame_codes(row["predicted_fail_codes"]),
        no_model_groups=row.get("no_model_groups", []),
        indicated_tests=row["indicated_tests"],
        model_versions=row["model_versions"],
        explanation=row.get("explanation", []),
        produced_at=row.get("produced_at"),
        created_at=now,
        generation=1,
        real_fail_codes=row.get("real_fail_codes"),
        feedback_at=now if row.get("real_fail_codes") else None,
    )


def _with_row(previous: Prediction, row: dict[str, Any], now: datetime) -> Prediction:
    # A copy: the history row is built from the untouched `previous`.
    current = new_prediction(row, now)
    current.pk = previous.pk
    if not row.get("real_fail_codes"):
        current.real_fail_codes = previous.real_fail_codes
        current.feedback_at = previous.feedback_at
    return current


def _history(previous: Prediction, now: datetime) -> PredictionHistory:
    return PredictionHistory(
        knr=previous.knr,
        generation=previous.generation,
        p_fail=previous.p_fail,
        risk=previous.risk,
        probabilities=previous.probabilities,
        predicted_fail_codes=previous.predicted_fail_codes,
        indicated_tests=previous.indicated_tests,
        model_versions=previous.model_versions,
        flagged_by=previous.flagged_by,
        real_fail_codes=previous.real_fail_codes,
        produced_at=previous.produced_at,
        created_at=previous.created_at,
        replaced_at=now,
    )


def record_explanation(prediction: Prediction, reasons: list[dict[str, Any]]) -> None:
    """Keep a flagged prediction's reasons, unless a newer prediction replaced it meanwhile."""
    Prediction.objects.filter(pk=prediction.pk, generation=prediction.generation).update(
        explanation=reasons
    )
    prediction.explanation = reasons
