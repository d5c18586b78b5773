"""The worklist sized to the team: each production day's riskiest vehicles within the
inspection capacity, flagged as they arrive, kept within the cap as the day fills."""

from datetime import datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from plant.selectors import get_indicated_tests
from predictions import services, store
from predictions.capacity import Capacity, set_inspection_capacity
from predictions.models import Prediction
from predictions.worklist import (
    CAPACITY_FLAG,
    ListPolicy,
    listed_groups,
    risk_of,
    settle_days,
)
from tests.predictions.conftest import DAYS, PER_DAY

pytestmark = pytest.mark.django_db


def _day(knrs: list[str]) -> list[Prediction]:
    return list(Prediction.objects.filter(knr__in=knrs))


def test_a_capacity_lists_each_days_riskiest_vehicles_within_it(active_models, two_days):
    set_inspection_capacity(share=0.2)
    services.predict_knrs(knrs=[k for knrs in two_days.values() for k in knrs])

    inspections = get_indicated_tests()
    for knrs in two_days.values():
        day = sorted(_day(knrs), key=lambda p: -p.risk)
        flagged = [p for p in day if p.predicted_fail]
        # A whole day at once: exactly its share, and its riskiest.
        assert len(flagged) == int(0.2 * PER_DAY) == 4
        assert flagged == day[:4]
        for p in day:
            assert p.risk == pytest.approx(p.p_fail)
        for p in flagged:
            assert p.flagged_by == [CAPACITY_FLAG]
            codes, tests = listed_groups(p.probabilities, inspections, 3)
            assert (p.predicted_fail_codes, p.indicated_tests) == (codes, tests)
            assert 0 < len(p.indicated_tests) <= 3
            assert p.explanation, f"{p.knr} is on the worklist without a reason"
        for p in day[4:]:
            assert (p.flagged_by, p.predicted_fail_codes, p.indicated_tests) == ([], [], [])


def test_without_a_capacity_each_kinds_threshold_flags_as_before(active_models, two_days):
    predictions = services.predict_knrs(knrs=two_days[DAYS[0]])
    for p in predictions:
        over = [kind for kind in ("fail", "group_2", "group_4")
                if (p.p_fail if kind == "fail" else p.probabilities[kind[6:]])
                >= active_models[kind].threshold]
        assert p.flagged_by == over
        assert p.predicted_fail == bool(over)
        assert bool(p.explanation) or not p.predicted_fail or p.p_fail < 0.02


def _rows(day: str, risks: list[float], first: int) -> list[dict]:
    at = timezone.make_aware(datetime.fromisoformat(f"{day} 12:00"))
    return [
        {
            "knr": f"2024-{first + i:07d}", "p_fail": r, "risk": r, "predicted_fail": False,
            "flagged_by": [], "probabilities": {"2": r, "4": r / 2}, "predicted_fail_codes": [],
            "indicated_tests": [], "model_versions": {"fail": "fail-v1"},
            "produced_at": at + timedelta(minutes=i),
        }
        for i, r in enumerate(risks)
    ]


def _settle(rows: list[dict], threshold: float = 0.5) -> None:
    policy = ListPolicy(capacity=Capacity(share=0.2), threshold=threshold, share=0.2)
    settle_days(store.store_predictions(rows), policy, get_indicated_tests())


def _flagged() -> list[float]:
    return sorted(Prediction.objects.filter(predicted_fail=True).values_list("risk", flat=True))


def test_later_arrivals_push_the_lowest_risks_of_their_day_off_the_list():
    day = DAYS[0]
    _settle(_rows(day, [0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.05], 1))
    assert _flagged() == [0.85, 0.95]  # 10 vehicles: 2 may be listed

    _settle(_rows(day, [0.99, 0.97, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 100))
    assert _flagged() == [0.85, 0.95, 0.97, 0.99]  # 20: 4

    _settle(_rows(day, [0.999, 0.998, 0.997, 0.996, 0.995], 200))
    # 25 vehicles: 5, all from the last arrivals; the four before drop off, groups and tests
    # cleared, so that the list, the predictions and the statistics agree.
    assert _flagged() == [0.995, 0.996, 0.997, 0.998, 0.999]
    dropped = Prediction.objects.filter(risk__in=[0.85, 0.95, 0.97, 0.99])
    assert {(p.predicted_fail, tuple(p.indicated_tests), p.predicted_codes_text)
            for p in dropped} == {(False, (), "")}
    kept = Prediction.objects.get(risk=0.999)
    assert kept.predicted_fail_codes == [2, 4] and kept.predicted_codes_text == ",2,4,"


def test_a_day_arriving_whole_fills_its_share_a_single_late_arrival_needs_the_threshold():
    day = DAYS[1]
    _settle(_rows(day, [0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1], 1))
    # Nobody over the threshold, but the day arrived whole: its top two are listed.
    assert _flagged() == [0.35, 0.4]

    _settle(_rows(day, [0.45], 50))  # below the threshold, alone: not its own share of a slot
    assert _flagged() == [0.35, 0.4]
    _settle(_rows(day, [0.6], 60))  # over it: listed, the lowest drops off (12 vehicles: 2)
    assert _flagged() == [0.4, 0.6]


def test_no_day_lists_more_than_its_cap_whatever_arrives(active_models, two_days):
    set_inspection_capacity(share=0.2)
    knrs = [k for day in two_days.values() for k in day]
    # One vehicle at a time, then all again: each day stays within its cap throughout.
    for knr in knrs[::3]:
        services.predict_knrs(knrs=[knr])
        for day in two_days.values():
            stored = _day(day)
            assert sum(p.predicted_fail for p in stored) <= int(0.2 * len(stored))
    services.predict_knrs(knrs=knrs)
    for day in two_days.values():
        assert sum(p.predicted_fail for p in _day(day)) == 4


def test_risk_is_the_fail_probability_or_any_inspected_group():
    assert risk_of(0.3, {"2": 0.9}) == 0.3
    assert risk_of(None, {"2": 0.5, "4": 0.5}) == pytest.approx(0.75)
    assert risk_of(None, {}) is None


def test_a_listed_vehicle_gets_its_likeliest_groups_tests_first_up_to_the_limit():
    inspections = {2: ["a", "b"], 4: ["c", "d", "e"], 5: [], 1: ["b", "f"]}
    probabilities = {"2": 0.3, "4": 0.6, "5": 0.9, "1": 0.2}
    assert listed_groups(probabilities, inspections, 3) == ([4], ["c", "d", "e"])
    assert listed_groups(probabilities, inspections, 4) == ([4, 2], ["c", "d", "e", "a"])
    assert listed_groups(probabilities, inspections, 9) == ([4, 2, 1], ["c", "d", "e", "a", "b",
                                                                         "f"])


def test_the_first_threshold_comes_from_the_fail_versions_test_scores(active_models):
    from mlmodels.selectors import get_test_scores
    from mlmodels.services import get_active_models
    from predictions.worklist import get_list_policy

    scores = np.linspace(0.0, 1.0, 101)
    store_scores = {"y_true": [0] * 101, "scores": list(scores)}
    from mlmodels.models import VersionScores
    from mlmodels.thresholds import encode_scores

    VersionScores.objects.update_or_create(
        version=active_models["fail"], defaults={"test": encode_scores(
            store_scores["y_true"], store_scores["scores"])},
    )
    assert len(get_test_scores(active_models["fail"])) == 101
    set_inspection_capacity(share=0.2)
    policy = get_list_policy(get_active_models())
    assert policy.threshold == pytest.approx(0.8)
    assert policy.tests_per_vehicle == 3


def test_earlier_predictions_get_their_fail_probability_as_risk():
    from django.apps import apps

    from predictions.backfills import risk_of_earlier_predictions

    rows = _rows(DAYS[0], [0.7, 0.2], 1)
    store.store_predictions(rows)
    Prediction.objects.update(risk=None)
    risk_of_earlier_predictions(apps, None)
    assert sorted(Prediction.objects.values_list("risk", flat=True)) == [0.2, 0.7]


def test_a_new_capacity_flags_every_day_again_and_removing_it_restores_the_policies(
    active_models, two_days
):
    from predictions.arrivals import flag_again

    knrs = [k for day in two_days.values() for k in day]
    services.predict_knrs(knrs=knrs)
    by_policy = {p.knr: (p.predicted_fail, p.flagged_by, p.indicated_tests)
                 for p in Prediction.objects.all()}
    assert sum(flagged for flagged, _, _ in by_policy.values()) > 8, "policies flag more"

    set_inspection_capacity(share=0.2)
    flag_again()  # what the worker runs after the change (no vehicle inside its window)
    for day in two_days.values():
        stored = sorted(_day(day), key=lambda p: -p.risk)
        assert [p.predicted_fail for p in stored] == [True] * 4 + [False] * 16
        assert all(p.flagged_by == [CAPACITY_FLAG] for p in stored[:4])
    assert set(Prediction.objects.values_list("generation", flat=True)) == {1}, (
        "flagged again, not predicted again: the versions that predicted stay on record"
    )

    set_inspection_capacity(share=None)
    flag_again()
    assert {p.knr: (p.predicted_fail, p.flagged_by, p.indicated_tests)
            for p in Prediction.objects.all()} == by_policy
