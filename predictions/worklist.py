"""The worklist sized to the team: with an inspection capacity, each production day's riskiest
vehicles within it are flagged, and each gets the indicated tests of its most likely groups.

A vehicle's flag is known when it arrives: its risk against a threshold set so that about the
capacity's share is flagged (the (1 − share) quantile of the last production days' risks; at
the start, of the active fail version's test scores). Each production day it arrived on is then
settled: a day over its cap keeps its riskiest vehicles (the lowest drop off), and a day under
it takes the riskiest of the vehicles arriving now, within their own share of the cap. Without a
capacity, each model kind's threshold policy flags, as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from crossline.domain import FAIL_KIND, frame_codes, group_kind
from mlmodels.selectors import get_test_scores
from mlmodels.services import LoadedModel
from predictions.capacity import Capacity, get_capacity
from predictions.models import Prediction

# What `flagged_by` says of a vehicle the worklist took within the inspection capacity.
CAPACITY_FLAG = "capacity"
# The threshold comes from this many recent production days, once they hold enough vehicles.
HISTORY_DAYS = 14
MIN_HISTORY = 30


@dataclass(frozen=True)
class ListPolicy:
    """How vehicles are flagged now: the capacity (or none), the arrival threshold on risk, the
    share of a day it aims at, and the most indicated tests per vehicle."""

    capacity: Capacity
    threshold: float = 0.0
    share: float | None = None
    tests_per_vehicle: int = 3


def risk_of(p_fail: float | None, probabilities: dict[str, float]) -> float | None:
    """The probability of at least one defect the inspections would find: the fail model's,
    or without one 1 − Π(1 − p) over the modelled fail groups with indicated tests (ranking by
    the fail model lists more defective vehicles at 20% capacity in every generated world:
    bench/results/worklist.md)."""
    if p_fail is not None:
        return float(p_fail)
    if not probabilities:
        return None
    return float(1.0 - math.prod(1.0 - float(p) for p in probabilities.values()))


def get_list_policy(models: dict[str, LoadedModel]) -> ListPolicy:
    """The policy in force: the capacity, and a threshold from recent risks or test scores."""
    capacity = get_capacity()
    tests = settings.CROSSLINE_WORKLIST_TESTS_PER_VEHICLE
    if not capacity.is_set:
        return ListPolicy(capacity=capacity, tests_per_vehicle=tests)
    recent, days = _recent_risks()
    share = capacity.share
    if share is None and days:
        share = min(1.0, capacity.vehicles_per_day * days / len(recent))
    if share is None:
        # A number per day and no day seen yet: every arrival is a candidate, each day's cap
        # keeps its riskiest.
        return ListPolicy(capacity=capacity, threshold=0.0, tests_per_vehicle=tests)
    if len(recent) < MIN_HISTORY:
        recent = _test_risks(models)
    threshold = float(np.quantile(recent, 1.0 - share, method="higher")) if len(recent) else 0.0
    return ListPolicy(capacity=capacity, threshold=threshold, share=share,
                      tests_per_vehicle=tests)


def _recent_risks() -> tuple[np.ndarray, int]:
    """The risks of the last HISTORY_DAYS production days' vehicles, and how many days held
    any."""
    latest = Prediction.objects.exclude(produced_at=None).order_by("-produced_at").values_list(
        "produced_at", flat=True
    ).first()
    if latest is None:
        return np.zeros(0), 0
    since = latest - timedelta(days=HISTORY_DAYS)
    rows = Prediction.objects.filter(produced_at__gt=since, risk__isnull=False).values_list(
        "risk", "produced_at"
    )
    risks, days = [], set()
    for risk, produced in rows:
        risks.append(risk)
        days.add(production_day(produced))
    return np.asarray(risks, dtype=np.float64), len(days)


def _test_risks(models: dict[str, LoadedModel]) -> np.ndarray:
    """The risk model's scores on its test set: the only risks known before any prediction."""
    fail = models.get(FAIL_KIND)
    scores = get_test_scores(fail.version) if fail is not None else None
    return np.zeros(0) if scores is None else scores


def production_day(moment: datetime) -> date:
    """A vehicle's production day: the local date of its last test."""
    return timezone.localtime(moment).date()


def day_range(day: date) -> tuple[datetime, datetime]:
    """The day's [midnight, next midnight) in TIME_ZONE."""
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime(day.year, day.month, day.day), tz)
    following = day + timedelta(days=1)
    return start, timezone.make_aware(datetime(following.year, following.month, following.day),
                                      tz)


def listed_groups(
    probabilities: dict[str, float], inspections: dict[int, list[str]], limit: int
) -> tuple[list[int], list[str]]:
    """A listed vehicle's fail groups and indicated tests: its most likely modelled groups
    with inspections first, their tests until `limit` tests."""
    codes: list[int] = []
    tests: list[str] = []
    ranked = sorted(probabilities.items(), key=lambda item: (-float(item[1]), int(item[0])))
    for code, _ in ranked:
        names = [t for t in inspections.get(int(code), []) if t not in tests]
        if not names:
            continue
        codes.append(int(code))
        tests.extend(names[: limit - len(tests)])
        if len(tests) >= limit:
            break
    return codes, tests


def policy_flags(
    p_fail: float | None, probabilities: dict[str, float], thresholds: dict[str, float],
    inspections: dict[int, list[str]],
) -> dict[str, Any]:
    """Flags without a capacity: the fail model or any group model over its threshold
    (`thresholds`: kind → threshold of the versions that predicted), with the groups over
    theirs and their inspections."""
    fail_over = p_fail is not None and FAIL_KIND in thresholds and p_fail >= thresholds[FAIL_KIND]
    codes = sorted(
        int(code) for code, p in probabilities.items()
        if group_kind(int(code)) in thresholds and p >= thresholds[group_kind(int(code))]
    )
    flagged_by = ([FAIL_KIND] if fail_over else []) + [group_kind(code) for code in codes]
    tests: list[str] = []
    for code in codes:
        tests.extend(name for name in inspections.get(code, []) if name not in tests)
    return {
        "predicted_fail": bool(flagged_by),
        "flagged_by": flagged_by,
        "predicted_fail_codes": codes,
        "indicated_tests": tests,
    }


def flag_on_arrival(
    rows: list[dict[str, Any]], policy: ListPolicy, inspections: dict[int, list[str]]
) -> None:
    """With a capacity, flag arriving rows (from `predict_frame`) whose risk reaches the
    threshold, with their groups and tests; the others carry no group and no test."""
    if not policy.capacity.is_set:
        return
    for row in rows:
        flagged = row["risk"] is not None and row["risk"] >= policy.threshold
        row.update(_flag_fields(flagged, row["probabilities"], inspections, policy))


def _flag_fields(
    flagged: bool, probabilities: dict[str, float], inspections: dict[int, list[str]],
    policy: ListPolicy,
) -> dict[str, Any]:
    codes, tests = (
        listed_groups(probabilities, inspections, policy.tests_per_vehicle) if flagged else ([], [])
    )
    return {
        "predicted_fail": flagged,
        "flagged_by": [CAPACITY_FLAG] if flagged else [],
        "predicted_fail_codes": codes,
        "indicated_tests": tests,
    }


def settle_days(
    arrived: Iterable[Prediction], policy: ListPolicy, inspections: dict[int, list[str]]
) -> dict[str, dict[str, Any]]:
    """Keep each production day the arrivals fell on within its cap; KNR → the flag fields
    written for each vehicle whose flag changed."""
    if not policy.capacity.is_set:
        return {}
    by_day: dict[date, set[str]] = {}
    for prediction in arrived:
        if prediction.produced_at is not None:
            by_day.setdefault(production_day(prediction.produced_at), set()).add(prediction.knr)
    changed: dict[str, dict[str, Any]] = {}
    for day, knrs in sorted(by_day.items()):
        changed.update(_settle_day(day, knrs, policy, inspections))
    return changed


def _settle_day(
    day: date, arrivals: set[str], policy: ListPolicy, inspections: dict[int, list[str]]
) -> dict[str, dict[str, Any]]:
    start, end = day_range(day)
    rows = list(
        Prediction.objects.filter(produced_at__gte=start, produced_at__lt=end).values_list(
            "pk", "knr", "risk", "predicted_fail", "probabilities", "generation", named=True
        )
    )
    cap = policy.capacity.allowed(len(rows)) or 0
    ranked = sorted(
        (row for row in rows if row.risk is not None), key=lambda row: (-row.risk, row.knr)
    )
    # Those flagged already keep their place unless riskier ones need it.
    listed = [
        row.knr for row in ranked if row.risk >= policy.threshold or row.predicted_fail
    ][:cap]
    # The vehicles arriving now may fill their own share of the cap: a whole day imported at
    # once is exactly its top; one vehicle at a time is flagged by the threshold alone.
    arrived = sum(row.knr in arrivals for row in rows)
    own = cap * arrived // len(rows) if rows else 0
    room = min(cap - len(listed), own - sum(knr in arrivals for knr in listed))
    if room > 0:
        taken = set(listed)
        listed += [r.knr for r in ranked if r.knr in arrivals and r.knr not in taken][:room]
    wanted = set(listed)
    changed = {}
    for row in rows:
        if (row.knr in wanted) == row.predicted_fail:
            continue
        fields = _flag_fields(row.knr in wanted, row.probabilities or {}, inspections, policy)
        written = {**fields, "predicted_codes_text": frame_codes(fields["predicted_fail_codes"])}
        # Only over the prediction this was decided on: a newer one is settled by its writer.
        if Prediction.objects.filter(pk=row.pk, generation=row.generation).update(**written):
            changed[row.knr] = written
    return changed


def reflag_every_day(
    policy: ListPolicy, inspections: dict[int, list[str]], thresholds: dict[str, float]
) -> list[str]:
    """After the capacity changed: every production day's flags again from what is stored,
    without predicting again (the versions that predicted stay on record). With a capacity,
    each day's top by risk within its cap; without, each kind's threshold (`thresholds`:
    model name → threshold). Returns the KNRs put on the list (`explain_flagged_anew` gives
    them their reasons)."""
    rows = list(
        Prediction.objects.exclude(produced_at=None).values_list(
            "pk", "knr", "risk", "p_fail", "probabilities", "model_versions", "generation",
            "produced_at", "predicted_fail", "flagged_by", "predicted_fail_codes",
            "indicated_tests", named=True,
        )
    )
    wanted: dict[Any, dict[str, Any]] = {}
    if policy.capacity.is_set:
        by_day: dict[date, list[Any]] = {}
        for row in rows:
            by_day.setdefault(production_day(row.produced_at), []).append(row)
        for day_rows in by_day.values():
            cap = policy.capacity.allowed(len(day_rows)) or 0
            ranked = sorted((r for r in day_rows if r.risk is not None),
                            key=lambda r: (-r.risk, r.knr))
            listed = {r.pk for r in ranked[:cap]}
            for row in day_rows:
                wanted[row.pk] = _flag_fields(row.pk in listed, row.probabilities or {},
                                              inspections, policy)
    else:
        for row in rows:
            kinds = {kind: thresholds[name] for kind, name in (row.model_versions or {}).items()
                     if name in thresholds}
            wanted[row.pk] = policy_flags(row.p_fail, row.probabilities or {}, kinds, inspections)
    listed_anew = []
    for row in rows:
        fields = wanted[row.pk]
        current = (row.predicted_fail, row.flagged_by, row.predicted_fail_codes,
                   row.indicated_tests)
        if current == tuple(fields[name] for name in (
            "predicted_fail", "flagged_by", "predicted_fail_codes", "indicated_tests"
        )):
            continue
        written = {**fields, "predicted_codes_text": frame_codes(fields["predicted_fail_codes"])}
        updated = Prediction.objects.filter(pk=row.pk, generation=row.generation).update(
            **written
        )
        if updated and fields["predicted_fail"] and not row.predicted_fail:
            listed_anew.append(row.knr)
    return listed_anew
