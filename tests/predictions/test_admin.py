"""The predictions admin: changelist with filters, predict again, indicated tests."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from crossline.domain import frame_codes
from crossline.numbers import percent
from predictions import services
from predictions.models import BatchPrediction, Prediction, PredictionHistory

pytestmark = pytest.mark.django_db


def listed(client, query: str) -> list[str]:
    """The KNRs the prediction changelist shows for this query string."""
    page = client.get(f"/admin/predictions/prediction/?{query}")
    assert page.status_code == 200
    return sorted(p.knr for p in page.context["cl"].result_list)


def test_changelist_filters_and_search(admin_user_client, active_models, stored_knrs):
    knrs = stored_knrs[:3]
    services.predict_knrs(knrs=knrs)
    # Known groups and feedback, whatever the models predicted.
    for knr, codes in zip(knrs, ([2], [4], []), strict=True):
        Prediction.objects.filter(knr=knr).update(
            predicted_fail_codes=codes, predicted_codes_text=frame_codes(codes)
        )
    Prediction.objects.filter(knr=knrs[2]).update(real_fail_codes=[4])
    # The first vehicle's labelling window closed long ago, the second's is open.
    now = timezone.now()
    Prediction.objects.filter(knr=knrs[0]).update(produced_at=now - timedelta(days=15))
    Prediction.objects.filter(knr=knrs[1]).update(produced_at=now - timedelta(days=13))

    assert listed(admin_user_client, "") == knrs
    assert listed(admin_user_client, f"q={knrs[1]}") == [knrs[1]]
    assert listed(admin_user_client, "feedback=defect") == [knrs[2]]
    assert listed(admin_user_client, "feedback=no_defect") == [knrs[0]]
    assert listed(admin_user_client, "feedback=waiting") == [knrs[1]]
    assert listed(admin_user_client, "fail_code=4") == [knrs[1]]
    assert listed(admin_user_client, "fail_code=2") == [knrs[0]]


def test_predict_again_runs_on_a_worker_and_its_page_follows_the_progress(
    admin_user_client, active_models, stored_knrs, monkeypatch
):
    from predictions import tasks

    queued = []
    monkeypatch.setattr(
        "predictions.batches.async_task",
        lambda func, *args, **kw: queued.append((func, args)) or "t1",
    )
    services.predict_knrs(knrs=stored_knrs[:2])
    ids = [str(pk) for pk in Prediction.objects.values_list("pk", flat=True)]
    response = admin_user_client.post(
        "/admin/predictions/prediction/",
        {"action": "predict_again", "_selected_action": ids},
    )

    # The list answers at once: a batch of the two vehicles is queued, nothing predicted yet.
    [(func, args)] = queued
    batch = BatchPrediction.objects.get(pk=args[0])
    assert func == "predictions.tasks.run_batch_prediction"
    assert (batch.status, sorted(batch.knrs), batch.knr_count) == (
        "queued", sorted(stored_knrs[:2]), 2
    )
    assert PredictionHistory.objects.count() == 0
    assert response["Location"] == f"/admin/predictions/batchprediction/{batch.pk}/change/"
    page = admin_user_client.get(response["Location"]).content.decode()
    assert "Predicting 2 vehicles again on a worker" in page
    assert f'data-progress-url="/admin/predictions/batchprediction/{batch.pk}/progress/"' in page

    tasks.run_batch_prediction(*args)

    state = admin_user_client.get(
        f"/admin/predictions/batchprediction/{batch.pk}/progress/"
    ).json()
    assert (state["progress"], state["done"]) == (100, True)
    assert PredictionHistory.objects.count() == 2
    change = admin_user_client.get(
        f"/admin/predictions/prediction/{Prediction.objects.first().pk}/change/"
    )
    assert change.status_code == 200
    assert "Earlier predictions" in change.content.decode()


def test_the_vehicle_page_shows_its_latest_prediction(
    admin_user_client, active_models, stored_knrs
):
    from plant.models import Vehicle

    vehicle = Vehicle.objects.get(knr=stored_knrs[0])
    before = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/")
    assert "Not predicted yet." in before.content.decode()

    (prediction,) = services.predict_knrs(knrs=[stored_knrs[0]])
    page = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/").content.decode()
    assert f"{percent(prediction.p_fail)} likely to have a defect" in page
    assert f"/admin/predictions/prediction/{prediction.pk}/change/" in page


def test_model_versions_show_realised_metrics_beside_the_test_set_ones(
    admin_user_client, active_models, stored_knrs
):
    predictions = services.predict_knrs(knrs=stored_knrs[:3])
    flagged = sum(p.predicted_fail for p in predictions)
    # All three KNRs turn out to have a defect: recall is the flagged share, precision 1.
    Prediction.objects.filter(knr__in=stored_knrs[:3]).update(real_fail_codes=[2])

    page = admin_user_client.get("/admin/mlmodels/modelversion/").content.decode()

    assert "ealised recall / precision / PR-AUC (closed, open)" in page
    precision = "100.0%" if flagged else "–"
    # The demo vehicles' labelling windows closed long ago; PR-AUC needs a negative too.
    assert f"{percent(flagged / 3)} / {precision} / – (3, 0 open)" in page


def test_a_prediction_is_a_record_with_feedback_the_only_thing_to_edit(
    admin_user_client, active_models, stored_knrs
):
    (prediction,) = services.predict_knrs(knrs=[stored_knrs[0]])
    url = f"/admin/predictions/prediction/{prediction.pk}/change/"

    page = admin_user_client.get(url).content.decode()

    assert "<textarea" not in page  # no JSON fields as forms
    assert "null" not in page
    assert f'<a href="/admin/plant/vehicle/knr/{prediction.knr}/">{prediction.knr}</a>' in page
    assert 'name="feedback"' in page and 'name="real_groups"' in page
    assert 'name="p_fail"' not in page and 'name="indicated_tests"' not in page
    assert "Central part" in page  # fail groups by name

    response = admin_user_client.post(
        url, {"feedback": "known", "real_groups": ["4", "9830946"], "p_fail": "0.01"}
    )

    assert response.status_code == 302
    prediction_after = Prediction.objects.get(pk=prediction.pk)
    assert prediction_after.real_fail_codes == [4, 9830946]
    assert prediction_after.feedback_at is not None
    assert prediction_after.p_fail == prediction.p_fail

    admin_user_client.post(url, {"feedback": "waiting"})
    assert Prediction.objects.get(pk=prediction.pk).real_fail_codes is None


def test_deleting_a_prediction_in_the_admin_needs_the_permission(
    client, staff_user, lead_user, active_models, stored_knrs
):
    (prediction,) = services.predict_knrs(knrs=[stored_knrs[0]])
    staff_user.user_permissions.set(Permission.objects.filter(codename="view_prediction"))
    client.force_login(staff_user)
    url = f"/admin/predictions/prediction/{prediction.pk}/delete/"

    listing = client.get("/admin/predictions/prediction/")

    assert listing.status_code == 200 and listing.context["action_form"] is None
    assert url not in client.get(f"/admin/predictions/prediction/{prediction.pk}/change/"
                                 ).content.decode()
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Prediction.objects.filter(pk=prediction.pk).exists()

    client.force_login(lead_user)
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Prediction.objects.filter(pk=prediction.pk).exists()


def test_the_prediction_list_names_fail_groups_and_links_vehicles(
    admin_user_client, active_models, stored_knrs
):
    services.predict_knrs(knrs=stored_knrs[:2])
    Prediction.objects.filter(knr=stored_knrs[0]).update(real_fail_codes=[])

    page = admin_user_client.get("/admin/predictions/prediction/").content.decode()

    assert f'href="/admin/plant/vehicle/knr/{stored_knrs[1]}/"' in page
    assert "no defect" in page and "waiting" in page
    assert "Documentation</a>" in page  # the fail-group filter by name


def test_a_batch_started_in_the_admin_predicts_and_downloads_as_csv(
    admin_user_client, active_models, stored_knrs
):
    form = admin_user_client.get("/admin/predictions/batchprediction/add/")
    assert form.status_code == 200 and '<ol class="breadcrumbs">' in form.content.decode()

    response = admin_user_client.post(
        "/admin/predictions/batchprediction/add/", {"since": "1970-01-01T00:00"}
    )

    batch = BatchPrediction.objects.get()
    assert response["Location"] == f"/admin/predictions/batchprediction/{batch.pk}/change/"
    assert batch.status == BatchPrediction.Status.SUCCEEDED
    page = admin_user_client.get(response["Location"]).content.decode()
    download = f"/admin/predictions/batchprediction/{batch.pk}/download/"
    assert download in page
    csv = b"".join(admin_user_client.get(download).streaming_content).decode()
    assert csv.splitlines()[0].startswith("KNR,p_fail")
    assert len(csv.splitlines()) == 1 + batch.predicted_count > 1
    state = admin_user_client.get(f"/admin/predictions/batchprediction/{batch.pk}/progress/")
    assert state.json()["done"] is True


def test_a_batch_pages_heading_names_the_batch_not_a_status_that_goes_stale(
    admin_user_client
):
    batch = BatchPrediction.objects.create(status=BatchPrediction.Status.QUEUED, knr_count=3)
    url = f"/admin/predictions/batchprediction/{batch.pk}/change/"

    page = admin_user_client.get(url).content.decode()

    assert f"<h2>Batch {batch.pk}</h2>" in page and "(queued)" not in page
    assert f"<title>Batch {batch.pk} |" in page
    # The status shows in the progress box, which the page's script keeps up to date.
    assert 'data-field="status">Queued</span>' in page


def test_a_batch_needs_a_file_or_a_date_not_both(admin_user_client, active_models):
    response = admin_user_client.post("/admin/predictions/batchprediction/add/", {})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Give either a test-results file or a date, not both."
    ]
    assert not BatchPrediction.objects.exists()


def test_the_dashboard_charts_flagged_vehicles_by_fail_group_and_month(
    admin_user_client, active_models, stored_knrs
):
    import json
    import re

    predictions = services.predict_knrs(knrs=stored_knrs)
    flagged = {}
    for prediction in predictions:
        for code in prediction.predicted_fail_codes:
            flagged[code] = flagged.get(code, 0) + 1
    assert flagged, "the test models flag some groups"
    # One vehicle first tested a year earlier: the latest month holds the others only.
    from plant.models import Vehicle

    earlier = Vehicle.objects.get(knr=stored_knrs[0]).first_test_at - timedelta(days=365)
    Vehicle.objects.filter(knr=stored_knrs[0]).update(first_test_at=earlier)

    page = admin_user_client.get("/admin/").content.decode()

    def chart(chart_id: str) -> dict:
        found = re.search(rf'<script id="{chart_id}" type="application/json">(.*?)</script>', page)
        return json.loads(found[1])

    by_group = chart("chart-flagged")["data"]
    names = {2: "2 Central part", 4: "4 Doors"}
    assert dict(zip(by_group["labels"], by_group["datasets"][0]["data"], strict=True)) == {
        names[code]: count for code, count in flagged.items()
    }
    monthly = chart("chart-monthly")["data"]
    assert sum(monthly["datasets"][0]["data"]) == sum(p.predicted_fail for p in predictions)
    # The month cards speak of one month: the latest with vehicles, and how many of them are
    # predicted; the card's link lists exactly those.
    from plant.selectors import get_vehicle_summary

    month = get_vehicle_summary()["latest_month"]
    of_month = [
        v.knr for v in Vehicle.objects.all()
        if (v.first_test_at.year, v.first_test_at.month) == (month.year, month.month)
    ]
    predicted = sum(p.knr in of_month for p in predictions)
    assert 0 < predicted < len(predictions), "the fixture spans several months"
    card = re.search(r'id="predicted-month-card"><span class="value">([\d,]+)</span>', page)
    assert int(card[1]) == predicted
    assert f"vehicles first tested in {month:%B %Y}" in page and "this month" not in page
    listing = admin_user_client.get(f"/admin/predictions/prediction/?month={month:%Y-%m}")
    assert listing.context["cl"].result_count == predicted
    # The team's fail groups that no active model predicts are named.
    no_model = re.search(r'<p id="groups-without-model">No model for ([^:]*):', page)
    assert no_model and "2 Central part" not in no_model[1] and "4 Doors" not in no_model[1]
    assert "5 Front" in no_model[1]


def test_a_batch_of_a_results_file_from_the_admin(
    admin_user_client, active_models, trained, tmp_path
):
    from tests.predictions.conftest import write_results_csv

    knrs = sorted(set(trained.raw_results["KNR"]))[:3]
    path = write_results_csv(trained, knrs, tmp_path / "new-results.csv")

    with path.open("rb") as handle:
        response = admin_user_client.post(
            "/admin/predictions/batchprediction/add/", {"file": handle}
        )

    batch = BatchPrediction.objects.get()
    assert response["Location"] == f"/admin/predictions/batchprediction/{batch.pk}/change/"
    assert (batch.original_name, batch.predicted_count) == ("new-results.csv", 3)


def test_earlier_predictions_list_fail_groups_by_name(
    admin_user_client, active_models, stored_knrs
):
    services.predict_knrs(knrs=stored_knrs[:2])
    services.predict_knrs(knrs=stored_knrs[:2])
    PredictionHistory.objects.update(predicted_fail_codes=[4, 9830946])

    page = admin_user_client.get("/admin/predictions/predictionhistory/").content.decode()

    assert "4 Doors, 9830946 Electrical" in page


@pytest.mark.django_db
def test_a_predictions_page_is_headed_in_the_teams_words(admin_user_client):
    prediction = Prediction.objects.create(
        knr="2024-2001695", p_fail=0.9876, predicted_fail=True, created_at=timezone.now()
    )

    page = admin_user_client.get(
        f"/admin/predictions/prediction/{prediction.pk}/change/"
    ).content.decode()

    assert "Vehicle 2024-2001695: 98.8% likely to have a defect" in page
    assert "p_fail=" not in page and "p(fail)" not in page.lower()
    assert "Probability of a defect" in page
