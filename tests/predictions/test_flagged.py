"""One meaning of "flagged", "no model" groups, thresholds that move without retraining,
statistics by production month, and exports safe in a spreadsheet."""

import csv
import io
import json
from collections import Counter

import pandas as pd
import pytest
from django.core.management import call_command
from django.utils import timezone

from crossline.exceptions import NoActiveModel
from mlmodels.models import ModelVersion
from mlmodels.services import (
    activate_model_version,
    get_active_models,
    register_model_version,
    set_threshold_policy,
)
from mlmodels.thresholds import choose_threshold
from plant.models import FailGroup
from predictions import services
from predictions.exports import predictions_csv
from predictions.models import Prediction

pytestmark = pytest.mark.django_db


def set_threshold(version: ModelVersion, threshold: float) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(threshold=threshold)


def test_a_group_over_its_threshold_flags_the_vehicle_even_when_the_fail_model_is_not(
    active_models, stored_knrs
):
    set_threshold(active_models["fail"], 2.0)  # the fail model never says yes
    set_threshold(active_models["group_2"], 0.0)  # group 2 always does
    set_threshold(active_models["group_4"], 2.0)

    predictions = services.predict_knrs(knrs=stored_knrs[:4])

    for p in predictions:
        assert p.predicted_fail is True
        assert p.flagged_by == ["group_2"]
        assert p.predicted_fail_codes == [2]
        assert p.indicated_tests == FailGroup.objects.get(code=2).inspections


def test_the_fail_model_alone_flags_without_inspections(active_models, stored_knrs):
    set_threshold(active_models["fail"], 0.0)
    set_threshold(active_models["group_2"], 2.0)
    set_threshold(active_models["group_4"], 2.0)

    [p] = services.predict_knrs(knrs=stored_knrs[:1])

    assert (p.predicted_fail, p.flagged_by, p.predicted_fail_codes, p.indicated_tests) == (
        True, ["fail"], [], []
    )


def test_flagged_is_never_no_while_groups_are_listed(active_models, stored_knrs):
    predictions = services.predict_knrs(knrs=stored_knrs)

    for p in predictions:
        assert p.predicted_fail == bool(p.flagged_by)
        assert set(p.flagged_by) >= {f"group_{c}" for c in p.predicted_fail_codes}
        assert ("fail" in p.flagged_by) == (p.p_fail >= active_models["fail"].threshold)
    assert any(p.predicted_fail_codes for p in predictions)


def test_a_group_without_an_eligible_model_is_left_out_and_shown_as_no_model(
    active_models, stored_knrs
):
    ModelVersion.objects.filter(pk=active_models["group_4"].pk).update(eligible=False)

    [p] = services.predict_knrs(knrs=stored_knrs[:1])

    assert set(p.probabilities) == {"2"}
    assert "group_4" not in p.model_versions
    assert 4 not in p.predicted_fail_codes
    assert p.no_model_groups == [1, 4, 5, 133, 137, 140, 9830946]
    body = predictions_csv([p])
    assert next(csv.DictReader(io.StringIO(body)))["no_model_groups"] == "1;4;5;133;137;140;9830946"


def test_without_an_eligible_fail_model_the_groups_still_flag_and_p_fail_is_not_guessed(
    active_models, stored_knrs, staff_api
):
    ModelVersion.objects.filter(pk=active_models["fail"].pk).update(eligible=False)
    set_threshold(active_models["group_2"], 0.0)

    predictions = services.predict_knrs(knrs=stored_knrs[:2])

    for p in predictions:
        assert p.p_fail is None
        assert "fail" not in p.model_versions
        assert p.flagged_by[0] == "group_2" and p.predicted_fail
    row = next(csv.DictReader(io.StringIO(predictions_csv(predictions))))
    assert row["p_fail"] == ""
    assert staff_api.get(f"/api/predictions/{stored_knrs[0]}/").json()["p_fail"] is None
    ModelVersion.objects.filter(pk__in=[v.pk for v in active_models.values()]).update(
        eligible=False
    )
    with pytest.raises(NoActiveModel, match="below the activation gate: fail-v1"):
        services.predict_knrs(knrs=stored_knrs[:1])


def test_a_threshold_policy_change_takes_effect_on_the_next_prediction_without_retraining(
    active_models, stored_knrs, trained
):
    # The training's held-out scores (the latest slice of the training period).
    heldout = trained.models["group_2"]["heldout"]
    version = register_model_version(
        type_model="group_2",
        pipeline=trained.models["group_2"]["pipeline"],
        threshold=0.5,
        metrics={"pr_auc": 0.6, "confusion_matrix": [[100, 30], [20, 50]]},
        heldout=heldout,
        test_scores=None,
    )
    activate_model_version(version=version)
    first = services.predict_knrs(knrs=stored_knrs)
    loaded = get_active_models()["group_2"].pipeline
    versions_before = ModelVersion.objects.count()

    set_threshold_policy(type_model="group_2", policy="capacity", value=0.05)
    second = services.predict_knrs(knrs=stored_knrs)

    version.refresh_from_db()
    assert version.threshold == choose_threshold(
        heldout["y_true"], heldout["scores"], policy="capacity", value=0.05
    )
    flagged_before = {p.knr for p in first if 2 in p.predicted_fail_codes}
    flagged_after = {p.knr for p in second if 2 in p.predicted_fail_codes}
    for p in second:
        # Stored probabilities are rounded to 6 places.
        if p.knr in flagged_after:
            assert p.probabilities["2"] >= version.threshold - 1e-6
        else:
            assert p.probabilities["2"] < version.threshold + 1e-6
    assert len(flagged_after) < len(flagged_before)
    assert ModelVersion.objects.count() == versions_before
    assert get_active_models()["group_2"].pipeline is loaded, "the same fitted model, not reloaded"


# --- statistics by production month -------------------------------------------------------------


def test_fail_codes_by_month_counts_2024_production_in_2024(
    active_models, stored_knrs, trained, staff_api
):
    predictions = services.predict_knrs(knrs=stored_knrs)
    rows = trained.results[trained.results["KNR"].isin(stored_knrs)]
    produced = rows.groupby("KNR")["DATA"].max()
    flagged = {p.knr for p in predictions if p.predicted_fail}
    with_group_2 = {p.knr for p in predictions if 2 in p.predicted_fail_codes}
    expected = Counter(f"{produced[k]:%Y-%m}" for k in flagged)
    expected_2 = Counter(f"{produced[k]:%Y-%m}" for k in with_group_2)
    assert flagged and all(pd.Timestamp(produced[k]).year == 2024 for k in stored_knrs)

    months = staff_api.get("/api/predictions/fail-codes-by-month/?year=2024").json()["months"]
    group_2 = staff_api.get(
        "/api/predictions/fail-codes-by-month/?year=2024&fail_code=2"
    ).json()["months"]
    by_created = staff_api.get(
        "/api/predictions/fail-codes-by-month/?year=2024&by=created"
    ).json()["months"]

    assert {m["month"]: m["predicted"] for m in months if m["predicted"]} == dict(expected)
    assert {m["month"]: m["predicted"] for m in group_2 if m["predicted"]} == dict(expected_2)
    # Made today, not in 2024: by creation month, 2024 holds none of them.
    assert all(m["predicted"] == 0 for m in by_created)
    stored = Prediction.objects.get(knr=stored_knrs[0])
    assert timezone.localtime(stored.produced_at).replace(tzinfo=None) == produced[stored_knrs[0]]


def test_total_fails_and_fail_codes_predicted_filter_by_production_month(
    active_models, stored_knrs, trained, staff_api
):
    predictions = services.predict_knrs(knrs=stored_knrs)
    rows = trained.results[trained.results["KNR"].isin(stored_knrs)]
    produced = rows.groupby("KNR")["DATA"].max()
    month = int(produced[stored_knrs[0]].month)
    in_month = [p for p in predictions if produced[p.knr].month == month]

    total = staff_api.get(f"/api/predictions/total-fails/?year=2024&month={month}").json()
    created = staff_api.get(f"/api/predictions/total-fails/?year=2024&month={month}&by=created")
    codes = staff_api.get(f"/api/predictions/fail-codes-predicted/?year=2024&month={month}")

    fails = sum(p.predicted_fail for p in in_month)
    assert total == {"fails": fails, "no_fails": len(in_month) - fails}
    assert created.json() == {"fails": 0, "no_fails": 0}
    expected = Counter(c for p in in_month for c in p.predicted_fail_codes)
    assert {r["fail_code"]: r["count"] for r in codes.json() if not r["no_model"]} == dict(expected)
    assert staff_api.get("/api/predictions/total-fails/?by=shipping").status_code == 400
    assert staff_api.get("/api/predictions/total-fails/?month=3").status_code == 400


def test_the_dashboards_monthly_chart_counts_by_the_last_test_as_the_statistics_do(
    active_models, stored_knrs, staff_api
):
    from plant.models import Vehicle
    from predictions.selectors import count_predicted_and_real_by_production_month

    predictions = services.predict_knrs(knrs=stored_knrs)
    flagged = next(p for p in predictions if p.predicted_fail)
    # Tested from 31 January to 1 March (local time): produced in March, in every count.
    Vehicle.objects.filter(knr=flagged.knr).update(
        first_test_at=timezone.make_aware(pd.Timestamp("2024-01-31 23:00").to_pydatetime()),
        has_defects=True,
    )
    Prediction.objects.filter(knr=flagged.knr).update(
        produced_at=timezone.make_aware(pd.Timestamp("2024-03-01 06:00").to_pydatetime())
    )
    Vehicle.objects.exclude(knr=flagged.knr).update(has_defects=False)

    chart = count_predicted_and_real_by_production_month()
    months = staff_api.get("/api/predictions/fail-codes-by-month/?year=2024").json()["months"]

    assert {r["month"]: r["predicted"] for r in chart if r["predicted"]} == {
        m["month"]: m["predicted"] for m in months if m["predicted"]
    }
    # Its imported defect counts as real, in March; no other vehicle has one.
    assert {r["month"]: r["real"] for r in chart if r["real"]} == {"2024-03": 1}


# --- exports safe in a spreadsheet --------------------------------------------------------------

FORMULA = '=HYPERLINK("http://x","y")'


def test_an_inspection_name_edited_in_the_admin_reaches_both_exports_as_text(
    admin_user_client, staff_api, active_models, stored_knrs, trained, tmp_path
):
    from tests.predictions.conftest import write_results_csv

    doors = FailGroup.objects.get(code=4)
    edited = admin_user_client.post(
        f"/admin/plant/failgroup/{doors.pk}/change/",
        {"code": 4, "name": "Doors", "inspections": json.dumps([FORMULA])},
    )
    assert edited.status_code == 302, edited.content.decode()[:2000]
    assert FailGroup.objects.get(code=4).inspections == [FORMULA]
    set_threshold(active_models["group_2"], 2.0)
    set_threshold(active_models["group_4"], 0.0)  # every vehicle gets the door inspections

    out = tmp_path / "out.csv"
    call_command("predict", "--knr", *stored_knrs[:2], "--out", str(out), stderr=io.StringIO())
    upload = write_results_csv(trained, trained.knrs[40:42], tmp_path / "batch.csv")
    with upload.open("rb") as handle:
        batch = staff_api.post("/api/predictions/batch/", {"file": handle}, format="multipart")
    result = staff_api.get(batch.json()["url"] + "result/")
    batch_csv = b"".join(result.streaming_content).decode()

    for text in (out.read_text(), batch_csv):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows
        for row in rows:
            assert row["indicated_tests"] == "'" + FORMULA
            float(row["p_fail"])  # numbers stay numbers
            assert not any(cell.startswith(("=", "+", "@")) for cell in row.values())
