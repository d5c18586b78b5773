"""The predictions admin: changelist with filters, predict again, indicated tests."""

import pytest

from predictions import services
from predictions.models import IndicatedTest, Prediction, PredictionHistory
from predictions.services import frame_codes

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

    assert listed(admin_user_client, "") == knrs
    assert listed(admin_user_client, f"q={knrs[1]}") == [knrs[1]]
    assert listed(admin_user_client, "has_feedback=yes") == [knrs[2]]
    assert listed(admin_user_client, "has_feedback=no") == knrs[:2]
    assert listed(admin_user_client, "fail_code=4") == [knrs[1]]
    assert listed(admin_user_client, "fail_code=2") == [knrs[0]]


def test_predict_again_action_moves_the_old_prediction_to_history(
    admin_user_client, active_models, stored_knrs
):
    services.predict_knrs(knrs=stored_knrs[:2])
    ids = [str(pk) for pk in Prediction.objects.values_list("pk", flat=True)]
    response = admin_user_client.post(
        "/admin/predictions/prediction/",
        {"action": "predict_again", "_selected_action": ids},
        follow=True,
    )
    assert response.status_code == 200
    assert "Predicted 2 KNRs again" in response.content.decode()
    assert PredictionHistory.objects.count() == 2
    change = admin_user_client.get(
        f"/admin/predictions/prediction/{Prediction.objects.first().pk}/change/"
    )
    assert change.status_code == 200
    assert "Earlier predictions" in change.content.decode()


def test_indicated_tests_are_editable(admin_user_client):
    doors = IndicatedTest.objects.get(fail_group=4)
    response = admin_user_client.post(
        f"/admin/predictions/indicatedtest/{doors.pk}/change/",
        {"fail_group": 4, "zone": "Doors", "inspections": '["Door water test"]'},
    )
    assert response.status_code == 302
    doors.refresh_from_db()
    assert doors.inspections == ["Door water test"]


def test_the_vehicle_page_shows_its_latest_prediction(
    admin_user_client, active_models, stored_knrs
):
    from training.models import Vehicle

    vehicle = Vehicle.objects.get(knr=stored_knrs[0])
    before = admin_user_client.get(f"/admin/training/vehicle/{vehicle.pk}/change/")
    assert "Not predicted yet." in before.content.decode()

    (prediction,) = services.predict_knrs(knrs=[stored_knrs[0]])
    page = admin_user_client.get(f"/admin/training/vehicle/{vehicle.pk}/change/").content.decode()
    assert f"p(fail) {prediction.p_fail:.2f}" in page
    assert f"/admin/predictions/prediction/{prediction.pk}/change/" in page


def test_model_versions_show_realised_metrics_beside_the_test_set_ones(
    admin_user_client, active_models, stored_knrs
):
    predictions = services.predict_knrs(knrs=stored_knrs[:3])
    flagged = sum(p.predicted_fail for p in predictions)
    # All three KNRs turn out to have a defect: recall is the flagged share, precision 1.
    Prediction.objects.filter(knr__in=stored_knrs[:3]).update(real_fail_codes=[2])

    page = admin_user_client.get("/admin/mlmodels/modelversion/").content.decode()

    assert "ealised recall / precision / PR-AUC (n)" in page
    precision = "1.000" if flagged else "–"
    assert f"{flagged / 3:.3f} / {precision} / 1.000 (3)" in page
