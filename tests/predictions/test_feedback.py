"""Feedback that counts right: defects before or after a prediction, the labelling window,
realised metrics over closed windows only."""

from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from mlmodels.management.commands.list_models import COLUMNS
from plant.imports import import_dataset
from predictions import services
from predictions.capacity import set_inspection_capacity
from predictions.models import Prediction
from predictions.realised import get_realised_metrics_by_month, get_realised_metrics_by_version

pytestmark = pytest.mark.django_db


def _import_defects(path: Path, rows: dict[str, list[int]]) -> None:
    lines = ["KNR,S_GROUP_ID,DATA"] + [
        f"{knr},{code},2024-05-20 21:31:51" for knr, codes in rows.items() for code in codes
    ]
    path.write_text("\n".join(lines) + "\n")
    import_dataset(path=path, original_name=path.name, kind="defects")


def test_defects_imported_before_or_after_a_prediction_both_reach_it(
    active_models, stored_knrs, tmp_path
):
    before, after, without = stored_knrs[:3]
    _import_defects(tmp_path / "early.csv", {before: [4, 2]})
    services.predict_knrs(knrs=[before, after, without])
    _import_defects(tmp_path / "late.csv", {after: [9830946]})

    real = dict(Prediction.objects.values_list("knr", "real_fail_codes"))
    assert real[before] == [2, 4]
    assert real[after] == [9830946]
    assert real[without] is None
    # Predicted again, each keeps what was recorded for its vehicle.
    services.predict_knrs(knrs=[before, after])
    assert Prediction.objects.get(knr=before).real_fail_codes == [2, 4]
    assert Prediction.objects.get(knr=after).real_fail_codes == [9830946]


def test_with_the_window_at_zero_realised_precision_and_recall_are_the_lists(
    active_models, stored_knrs, tmp_path
):
    predictions = services.predict_knrs(knrs=stored_knrs)
    flagged = {p.knr for p in predictions if p.predicted_fail}
    # Defects for part of the vehicles: flagged and not, and some before being predicted again.
    defective = set(stored_knrs[::2])
    assert flagged & defective and defective - flagged and flagged - defective, (
        "the fixture needs flagged vehicles with and without a defect, and defective ones "
        "not flagged"
    )
    _import_defects(tmp_path / "defects.csv", {knr: [2] for knr in defective})
    set_inspection_capacity(label_window_days=0)

    fail = get_realised_metrics_by_version()["fail-v1"]

    assert (fail["n"], fail["open"], fail["positives"]) == (len(stored_knrs), 0, len(defective))
    assert fail["precision"] == pytest.approx(len(flagged & defective) / len(flagged))
    # Recall counts the defective vehicles that were not flagged.
    assert fail["recall"] == pytest.approx(len(flagged & defective) / len(defective))
    months = [m for m in get_realised_metrics_by_month() if m["type_model"] == "fail"]
    assert sum(m["n"] for m in months) == len(stored_knrs)
    assert sum(m["positives"] for m in months) == len(defective)
    listed = StringIO()
    call_command("list_models", stdout=listed)
    row = next(line.split() for line in listed.getvalue().splitlines() if " fail-v1 " in line)
    realised = COLUMNS.index("realised_recall")
    assert row[realised : realised + 4] == [
        f"{fail['recall']:.3f}", f"{fail['precision']:.3f}", str(len(stored_knrs)), "0"
    ]


def test_at_window_zero_realised_precision_and_recall_count_a_months_vehicles_by_hand(
    active_models, stored_knrs, tmp_path
):
    # Ten vehicles of March 2026, last tested on its 10th to 14th; "now" is the 15th at noon.
    knrs = stored_knrs[:10]
    services.predict_knrs(knrs=knrs)
    march = timezone.make_aware(datetime(2026, 3, 10, 8))
    for day, knr in enumerate(knrs):
        Prediction.objects.filter(knr=knr).update(
            produced_at=march + timedelta(days=day // 2), predicted_fail=knr in knrs[:4]
        )
    now = timezone.make_aware(datetime(2026, 3, 15, 12))
    # Flagged: the first four. Defects imported for five: two flagged, three not.
    flagged_with_defect, missed = knrs[:2], knrs[4:7]
    _import_defects(tmp_path / "defects.csv", {k: [4] for k in flagged_with_defect + missed})

    # Inside the default window (14 days) every one of them is still open.
    fail = get_realised_metrics_by_version(now=now)["fail-v1"]
    assert (fail["n"], fail["open"], fail["precision"], fail["recall"]) == (0, 10, None, None)

    set_inspection_capacity(label_window_days=0)
    fail = get_realised_metrics_by_version(now=now)["fail-v1"]
    [month] = [m for m in get_realised_metrics_by_month(now=now) if m["type_model"] == "fail"]

    # Precision: 2 of the 4 flagged have a defect. Recall: 2 of the 5 defective were
    # flagged; the 3 not flagged count against it.
    for metrics in (fail, month):
        assert (metrics["n"], metrics["open"], metrics["positives"]) == (10, 0, 5)
        assert metrics["precision"] == pytest.approx(2 / 4)
        assert metrics["recall"] == pytest.approx(2 / 5)
    assert month["month"] == "2026-03"


def test_vehicles_inside_their_window_are_open_not_defect_free(active_models, stored_knrs):
    services.predict_knrs(knrs=stored_knrs[:4])
    now = timezone.now()
    recent, old = stored_knrs[:2], stored_knrs[2:4]
    Prediction.objects.filter(knr__in=recent).update(produced_at=now - timedelta(days=3))
    Prediction.objects.filter(knr__in=old).update(produced_at=now - timedelta(days=30))

    fail = get_realised_metrics_by_version()["fail-v1"]
    assert (fail["n"], fail["open"]) == (2, 2)

    set_inspection_capacity(label_window_days=2)
    fail = get_realised_metrics_by_version()["fail-v1"]
    assert (fail["n"], fail["open"]) == (4, 0)


def test_a_prediction_page_says_when_its_window_closes(
    admin_user_client, active_models, stored_knrs
):
    recent, old = services.predict_knrs(knrs=stored_knrs[:2])
    produced = timezone.make_aware(timezone.datetime(2026, 3, 1, 10, 0))
    Prediction.objects.filter(pk=recent.pk).update(produced_at=timezone.now() - timedelta(days=3))
    Prediction.objects.filter(pk=old.pk).update(produced_at=produced)
    closes = timezone.localtime(timezone.now() - timedelta(days=3) + timedelta(days=14))

    page = admin_user_client.get(f"/admin/predictions/prediction/{recent.pk}/change/")
    assert f"Waiting until {closes:%Y-%m-%d}" in page.content.decode()
    page = admin_user_client.get(f"/admin/predictions/prediction/{old.pk}/change/")
    assert "No defect recorded, window closed on 2026-03-15" in page.content.decode()


def test_the_migration_fills_feedback_recorded_before_a_prediction(
    active_models, stored_knrs, tmp_path
):
    from django.apps import apps

    from predictions.backfills import fill_feedback_recorded_before_prediction

    _import_defects(tmp_path / "defects.csv", {stored_knrs[0]: [5, 4]})
    services.predict_knrs(knrs=stored_knrs[:2])
    # As earlier versions stored it: the defects never reached the prediction.
    Prediction.objects.update(real_fail_codes=None)

    fill_feedback_recorded_before_prediction(apps, None)

    real = dict(Prediction.objects.values_list("knr", "real_fail_codes"))
    assert real == {stored_knrs[0]: [4, 5], stored_knrs[1]: None}
