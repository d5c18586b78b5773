"""Storing predictions: one history row per replaced prediction, whatever fails part-way."""

from collections import Counter
from typing import Any

import pytest

from predictions import store
from predictions.models import Prediction, PredictionHistory

pytestmark = pytest.mark.django_db

KNRS = [f"2024-000010{i}" for i in range(6)]


def _rows(version: str, p: float = 0.5) -> list[dict[str, Any]]:
    """What `predict_frame` returns for KNRS, by a model called `version`."""
    return [
        {
            "knr": knr,
            "p_fail": p,
            "predicted_fail": p >= 0.5,
            "flagged_by": ["fail"] if p >= 0.5 else [],
            "probabilities": {"2": p},
            "predicted_fail_codes": [],
            "no_model_groups": [],
            "indicated_tests": [],
            "model_versions": {"fail": version},
            "produced_at": None,
        }
        for knr in KNRS
    ]


def _fail_after(monkeypatch, replacements: int) -> None:
    """The next store fails after this many predictions were replaced (a lost connection)."""
    original = store.replace_prediction
    done = []

    def flaky(previous, row, *, now):
        if len(done) == replacements:
            raise ConnectionError("the database went away")
        done.append(row["knr"])
        return original(previous, row, now=now)

    monkeypatch.setattr(store, "replace_prediction", flaky)


def _history_keys() -> Counter:
    return Counter(PredictionHistory.objects.values_list("knr", "generation"))


def test_a_store_retried_after_failing_part_way_keeps_one_history_row_per_replaced_prediction(
    monkeypatch,
):
    store.store_predictions(_rows("fail-v1", 0.2))
    _fail_after(monkeypatch, 3)
    with pytest.raises(ConnectionError):
        store.store_predictions(_rows("fail-v2", 0.7))
    # Half-way: three predictions replaced, three not; every replaced one's row is kept.
    versions = dict(Prediction.objects.values_list("knr", "model_versions"))
    assert sorted(v["fail"] for v in versions.values()) == ["fail-v1"] * 3 + ["fail-v2"] * 3

    monkeypatch.undo()
    store.store_predictions(_rows("fail-v2", 0.7))

    # Each replaced prediction (KNR, generation) once: the six v1 predictions, and the three
    # v2 predictions the failed attempt had stored and the retry replaced.
    keys = _history_keys()
    assert set(keys.values()) == {1}, keys
    replaced_v2 = {knr for knr, v in versions.items() if v["fail"] == "fail-v2"}
    assert set(keys) == {(knr, 1) for knr in KNRS} | {(knr, 2) for knr in replaced_v2}
    assert all(
        h.model_versions == {"fail": "fail-v1"} and h.p_fail == 0.2
        for h in PredictionHistory.objects.filter(generation=1)
    )
    # Every prediction current: the retry's, one generation after its last history row.
    for prediction in Prediction.objects.all():
        assert prediction.model_versions == {"fail": "fail-v2"}
        assert prediction.p_fail == 0.7 and prediction.predicted_fail
        last = max(g for knr, g in keys if knr == prediction.knr)
        assert prediction.generation == last + 1


def test_a_replacement_racing_another_keeps_both_earlier_predictions(monkeypatch):
    store.store_predictions(_rows("fail-v1", 0.2))
    original = store.keep_history
    raced = []

    def with_a_racing_writer(previous, *, now):
        original(previous, now=now)
        if not raced:
            # Another writer replaces the same predictions between our read and our write.
            raced.append(True)
            store.store_predictions(_rows("fail-v9", 0.9))

    monkeypatch.setattr(store, "keep_history", with_a_racing_writer)
    store.store_predictions(_rows("fail-v2", 0.7))

    # Our compare-and-set lost to the racer's: its prediction went to history, then ours
    # replaced it. Nothing the racer stored was overwritten unseen.
    history = {
        (h.knr, h.generation): h.model_versions["fail"] for h in PredictionHistory.objects.all()
    }
    assert history == {
        **{(knr, 1): "fail-v1" for knr in KNRS},
        **{(knr, 2): "fail-v9" for knr in KNRS},
    }
    assert {p.model_versions["fail"] for p in Prediction.objects.all()} == {"fail-v2"}
    assert set(Prediction.objects.values_list("generation", flat=True)) == {3}


def test_a_first_prediction_stored_meanwhile_by_another_writer_goes_to_history(monkeypatch):
    original = store.new_prediction
    raced = []

    def with_a_racing_writer(row, now):
        if not raced:
            # Another writer stores the first KNR's first prediction after our read.
            raced.append(True)
            store.store_predictions(_rows("fail-v9", 0.9)[:1])
        return original(row, now)

    monkeypatch.setattr(store, "new_prediction", with_a_racing_writer)
    stored = store.store_predictions(_rows("fail-v2", 0.7))

    assert [p.knr for p in stored] == KNRS
    assert {p.model_versions["fail"] for p in Prediction.objects.all()} == {"fail-v2"}
    [history] = PredictionHistory.objects.all()
    assert (history.knr, history.generation, history.model_versions) == (
        KNRS[0], 1, {"fail": "fail-v9"}
    )
    assert Prediction.objects.get(knr=KNRS[0]).generation == 2
    assert set(Prediction.objects.exclude(knr=KNRS[0]).values_list("generation", flat=True)) == {1}


def test_history_stored_before_generations_is_numbered_oldest_first():
    from datetime import timedelta

    from django.apps import apps
    from django.utils import timezone

    from predictions.backfills import number_prediction_history

    now = timezone.now()
    store.store_predictions(_rows("fail-v3"))
    # Rows as an earlier crossline left them (numbers the migration replaces), newest first.
    for age, number in [(1, 70), (3, 80), (2, 90)]:
        PredictionHistory.objects.create(
            knr=KNRS[0], generation=number, created_at=now - timedelta(days=age), replaced_at=now,
            model_versions={"fail": f"fail-v{3 - age}"},
        )

    number_prediction_history(apps, None)

    history = PredictionHistory.objects.filter(knr=KNRS[0]).order_by("generation")
    assert [(h.generation, h.model_versions["fail"]) for h in history] == [
        (1, "fail-v0"), (2, "fail-v1"), (3, "fail-v2")
    ]
    assert Prediction.objects.get(knr=KNRS[0]).generation == 4
    assert set(Prediction.objects.exclude(knr=KNRS[0]).values_list("generation", flat=True)) == {1}
