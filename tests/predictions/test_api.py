"""The predictions REST API: CRUD by KNR, predict, filters, statistics, errors."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from crossline.domain import frame_codes
from predictions.models import Prediction

pytestmark = pytest.mark.django_db


def _at(year: int, month: int, day: int = 10) -> datetime:
    return timezone.make_aware(datetime(year, month, day, 12, 0))


def _prediction(
    knr: str, *, at: datetime, codes: list[int], real=None, fail=None,
    produced: datetime | None = None,
) -> Prediction:
    return Prediction.objects.create(
        knr=knr,
        p_fail=0.9 if (fail if fail is not None else bool(codes)) else 0.1,
        predicted_fail=fail if fail is not None else bool(codes),
        flagged_by=(["fail"] if (fail if fail is not None else bool(codes)) else [])
        + [f"group_{c}" for c in codes],
        probabilities={"2": 0.5, "4": 0.5},
        predicted_fail_codes=codes,
        predicted_codes_text=frame_codes(codes),
        model_versions={"fail": "fail-v1"},
        real_fail_codes=real,
        produced_at=produced or at,
        created_at=at,
    )


@pytest.fixture
def known_predictions(db) -> None:
    """Six predictions over three months of 2024 and one in 2023."""
    _prediction("2024-0000001", at=_at(2024, 1), codes=[2, 4], real=[2])
    _prediction("2024-0000002", at=_at(2024, 1), codes=[2], real=[])
    _prediction("2024-0000003", at=_at(2024, 2), codes=[], real=[4, 9830946])
    _prediction("2024-0000004", at=_at(2024, 2), codes=[9830946], real=None)
    _prediction("2024-0000005", at=_at(2024, 3), codes=[], real=None)
    _prediction("2023-0000006", at=_at(2023, 12), codes=[2], real=[2])


def test_fail_codes_predicted_counts_each_group(staff_api, known_predictions):
    response = staff_api.get("/api/predictions/fail-codes-predicted/")
    assert response.status_code == 200
    counts = {row["fail_code"]: row["count"] for row in response.json() if not row["no_model"]}
    assert counts == {2: 3, 4: 1, 9830946: 1}
    assert response.json()[0] == {
        "fail_code": 2, "zone": "Central part", "count": 3, "no_model": False
    }
    # No active model predicts the other groups: listed as such, with no count.
    no_model = {row["fail_code"]: row["count"] for row in response.json() if row["no_model"]}
    assert no_model == {1: None, 5: None, 133: None, 137: None, 140: None}


def test_total_fails_splits_predicted_fails(staff_api, known_predictions):
    response = staff_api.get("/api/predictions/total-fails/")
    assert response.json() == {"no_fails": 2, "fails": 4}


def test_fail_codes_by_month_counts_predicted_and_real(staff_api, known_predictions):
    response = staff_api.get("/api/predictions/fail-codes-by-month/?year=2024&fail_code=2")
    assert response.status_code == 200
    months = response.json()["months"]
    assert len(months) == 12
    assert months[0] == {"month": "2024-01", "predicted": 2, "real": 1}
    assert months[1] == {"month": "2024-02", "predicted": 0, "real": 0}
    assert all(m["predicted"] == m["real"] == 0 for m in months[2:])

    any_group = staff_api.get("/api/predictions/fail-codes-by-month/?year=2024").json()["months"]
    assert [(m["predicted"], m["real"]) for m in any_group[:3]] == [(2, 1), (1, 1), (0, 0)]


def test_months_and_years_hold_their_first_and_last_second_in_the_plant_s_time(
    plain_api, settings
):
    # Berlin: March 2024 starts at 23:00 UTC the day before (+1) and ends at 22:00 UTC (+2);
    # a month or a year cut in UTC, or a bound left out or off by a second, shows here.
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    edges = {
        "2023-0000001": datetime(2023, 12, 31, 23, 59, 59, tzinfo=berlin),  # 2023's last second
        "2024-0000002": datetime(2024, 1, 1, 0, 0, 0, tzinfo=berlin),  # 2024's first
        "2024-0000003": datetime(2024, 2, 29, 23, 59, 59, tzinfo=berlin),  # February's last
        "2024-0000004": datetime(2024, 3, 1, 0, 0, 0, tzinfo=berlin),  # March's first
        "2024-0000005": datetime(2024, 3, 31, 23, 59, 59, tzinfo=berlin),  # March's last
        "2024-0000006": datetime(2024, 4, 1, 0, 0, 0, tzinfo=berlin),  # April's first
        "2024-0000007": datetime(2024, 12, 31, 23, 59, 59, tzinfo=berlin),  # 2024's last
        "2025-0000008": datetime(2025, 1, 1, 0, 0, 0, tzinfo=berlin),  # 2025's first
    }
    for knr, at in edges.items():
        _prediction(knr, at=at, codes=[2])

    listed = plain_api.get("/api/predictions/?month=2024-03").json()["results"]
    months = plain_api.get("/api/predictions/fail-codes-by-month/?year=2024").json()["months"]
    march = plain_api.get("/api/predictions/fail-codes-predicted/?year=2024&month=3").json()
    year = plain_api.get("/api/predictions/fail-codes-predicted/?year=2024").json()

    assert {row["KNR"] for row in listed} == {"2024-0000004", "2024-0000005"}
    assert [m["predicted"] for m in months] == [1, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert [(row["fail_code"], row["count"]) for row in march if not row["no_model"]] == [(2, 2)]
    assert [(row["fail_code"], row["count"]) for row in year if not row["no_model"]] == [(2, 6)]


def test_fail_codes_by_month_needs_a_year(staff_api):
    assert staff_api.get("/api/predictions/fail-codes-by-month/").status_code == 400
    assert staff_api.get("/api/predictions/fail-codes-by-month/?year=x").status_code == 400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fail_code=2", {"2024-0000001", "2024-0000002", "2023-0000006"}),
        ("fail_code=9830946", {"2024-0000004"}),
        ("positive=true", {"2024-0000001", "2024-0000002", "2024-0000004", "2023-0000006"}),
        ("positive=false", {"2024-0000003", "2024-0000005"}),
        ("month=2024-02", {"2024-0000003", "2024-0000004"}),
        # Every labelling window has closed: no defect recorded means none.
        ("has_feedback=true", {"2024-0000001", "2024-0000002", "2024-0000003", "2024-0000004",
                               "2024-0000005", "2023-0000006"}),
        ("has_feedback=false", set()),
        ("feedback=defect", {"2024-0000001", "2024-0000003", "2023-0000006"}),
        ("feedback=no_defect", {"2024-0000002", "2024-0000004", "2024-0000005"}),
        ("search=0000005", {"2024-0000005"}),
        ("fail_code=2&month=2024-01", {"2024-0000001", "2024-0000002"}),
    ],
)
def test_the_list_filters(staff_api, known_predictions, query, expected):
    response = staff_api.get(f"/api/predictions/?{query}")
    assert response.status_code == 200
    assert {row["KNR"] for row in response.json()["results"]} == expected


def test_a_bad_month_is_a_400(staff_api, known_predictions):
    assert staff_api.get("/api/predictions/?month=2024-13").status_code == 400


def test_get_put_patch_delete_by_knr(staff_api, lead_api, known_predictions):
    url = "/api/predictions/2024-0000004/"
    body = staff_api.get(url).json()
    assert body["KNR"] == "2024-0000004"
    assert body["predicted_fail_codes"] == [9830946]

    patched = staff_api.patch(url, {"real_fail_codes": [9830946]}, format="json")
    assert patched.status_code == 200
    assert Prediction.objects.get(knr="2024-0000004").real_fail_codes == [9830946]
    assert patched.json()["feedback_at"] is not None

    put = staff_api.put(
        url, {"indicated_tests": ["Battery voltage test"], "real_fail_codes": None,
              "p_fail": 0.0}, format="json"
    )
    assert put.status_code == 200
    stored = Prediction.objects.get(knr="2024-0000004")
    assert stored.indicated_tests == ["Battery voltage test"]
    assert stored.real_fail_codes is None
    assert stored.p_fail == pytest.approx(0.9), "the model's output is read-only"

    refused = staff_api.delete(url)
    assert (refused.status_code, refused.json()["detail"]) == (
        403, "This needs the permission predictions.delete_prediction."
    )
    assert Prediction.objects.filter(knr="2024-0000004").exists()
    assert lead_api.delete(url).status_code == 204
    assert not Prediction.objects.filter(knr="2024-0000004").exists()
    assert staff_api.get(url).status_code == 404


def test_post_predicts_and_stores(staff_api, active_models, stored_knrs):
    response = staff_api.post("/api/predictions/", {"KNR": stored_knrs[0]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["KNR"] == stored_knrs[0]
    assert body["model_versions"]["fail"] == "fail-v1"
    assert Prediction.objects.filter(knr=stored_knrs[0]).count() == 1


def test_post_for_a_knr_without_data_is_a_404(staff_api, active_models, stored_knrs):
    response = staff_api.post("/api/predictions/", {"KNR": "2024-9999999"}, format="json")
    assert response.status_code == 404
    assert "2024-9999999" in response.json()["detail"]


def test_post_without_an_active_model_is_a_409(staff_api, stored_knrs):
    response = staff_api.post("/api/predictions/", {"KNR": stored_knrs[0]}, format="json")
    assert response.status_code == 409
    assert Prediction.objects.count() == 0


def test_post_with_a_tampered_artifact_is_a_409_and_stores_nothing(
    staff_api, active_models, stored_knrs
):
    version = active_models["fail"]
    default_storage.delete(version.artifact_path)
    default_storage.save(version.artifact_path, ContentFile(b"\x80\x04evil"))
    response = staff_api.post("/api/predictions/", {"KNR": stored_knrs[0]}, format="json")
    assert response.status_code == 409
    assert "SHA-256" in response.json()["detail"]
    assert Prediction.objects.count() == 0


def test_post_with_a_malformed_knr_is_a_400(staff_api):
    assert staff_api.post("/api/predictions/", {"KNR": "24-1"}, format="json").status_code == 400


def test_reading_needs_a_login_and_writes_need_authentication(client, known_predictions):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.get("/api/predictions/").status_code == 401
    assert anonymous.post("/api/predictions/", {"KNR": "2024-0000001"}).status_code == 401
    assert anonymous.delete("/api/predictions/2024-0000001/").status_code == 401
    assert Prediction.objects.filter(knr="2024-0000001").exists()


def test_history_lists_the_earlier_predictions(staff_api, active_models, stored_knrs):
    staff_api.post("/api/predictions/", {"KNR": stored_knrs[0]}, format="json")
    staff_api.post("/api/predictions/", {"KNR": stored_knrs[0]}, format="json")
    history = staff_api.get(f"/api/predictions/{stored_knrs[0]}/history/").json()
    assert len(history) == 1
    assert history[0]["KNR"] == stored_knrs[0]


def test_realised_metrics_per_version_and_month(staff_api, known_predictions):
    body = staff_api.get("/api/predictions/realised-metrics/").json()
    fail = body["by_version"]["fail-v1"]
    # Every window closed: ...01 (flagged, defect), ...02 (flagged, none), ...03 (not, defect),
    # ...04 (flagged, none recorded), ...05 (not, none recorded), ...06 (flagged, defect).
    assert (fail["n"], fail["open"]) == (6, 0)
    assert fail["precision"] == pytest.approx(2 / 4)
    assert fail["recall"] == pytest.approx(2 / 3)
    months = {(m["month"], m["type_model"]): m for m in body["by_month"]}
    assert months[("2024-01", "fail")]["n"] == 2
    assert months[("2024-02", "fail")]["recall"] == 0.0


def test_realised_metrics_wait_for_open_windows(staff_api, known_predictions):
    from predictions.capacity import set_inspection_capacity

    # The longest window (ten years) is longer than the vehicles' age: every one is still open,
    # none counted.
    set_inspection_capacity(label_window_days=3650)
    body = staff_api.get("/api/predictions/realised-metrics/").json()
    fail = body["by_version"]["fail-v1"]
    assert (fail["n"], fail["open"], fail["precision"], fail["recall"]) == (0, 6, None, None)
    assert {m["open"] for m in body["by_month"]} == {1, 2}
    listed = staff_api.get("/api/predictions/?feedback=waiting").json()["results"]
    # ...02 has none set by hand: known, whatever the window.
    assert {p["KNR"] for p in listed} == {"2024-0000004", "2024-0000005"}
    one = staff_api.get("/api/predictions/2024-0000004/").json()
    assert one["feedback"] == "waiting"
    assert one["window_closes_at"][:4] == "2034"


def test_a_malformed_knr_is_a_bad_request(staff_api, active_models):
    response = staff_api.post("/api/predictions/", {"KNR": "24-12"}, format="json")
    assert response.status_code == 400
    assert "YYYY-NNNNNNN" in response.json()["errors"]["KNR"][0]


def test_the_service_refuses_a_malformed_knr_as_bad_input():
    from crossline.exceptions import InvalidInput
    from predictions.services import validate_knrs

    with pytest.raises(InvalidInput, match="24-12") as refused:
        validate_knrs(["2024-0000001", "24-12"])
    assert refused.value.status_code == 400


# --- who may do what (one permission class: read any user, write staff) ---------------------


def test_a_non_staff_user_cannot_delete_or_edit_a_prediction(plain_api, known_predictions):
    url = "/api/predictions/2024-0000001/"
    before = Prediction.objects.get(knr="2024-0000001")

    delete = plain_api.delete(url)
    put = plain_api.put(url, {"real_fail_codes": [9], "indicated_tests": []}, format="json")
    patch = plain_api.patch(url, {"real_fail_codes": [9]}, format="json")

    assert (delete.status_code, put.status_code, patch.status_code) == (403, 403, 403)
    assert delete.json()["code"] == "permission_denied"
    after = Prediction.objects.get(knr="2024-0000001")
    assert (after.real_fail_codes, after.feedback_at) == (before.real_fail_codes,
                                                          before.feedback_at)
    assert plain_api.get(url).status_code == 200, "reading stays open to every user"


def test_a_non_staff_user_cannot_predict_or_start_a_batch(plain_api, active_models, stored_knrs):
    from predictions.models import BatchPrediction

    predict = plain_api.post("/api/predictions/", {"KNR": stored_knrs[0]}, format="json")
    batch = plain_api.post("/api/predictions/batch/since/", {"since": "2020-01-01T00:00:00Z"})

    assert (predict.status_code, batch.status_code) == (403, 403)
    assert not Prediction.objects.exists()
    assert not BatchPrediction.objects.exists()


def test_a_user_sees_and_downloads_only_their_own_batches(
    staff_api, plain_api, plain_user, active_models, stored_knrs, django_user_model
):
    from predictions.models import BatchPrediction

    started = staff_api.post("/api/predictions/batch/since/", {"since": "2020-01-01T00:00:00Z"})
    assert started.status_code == 201, started.content
    others = started.json()["id"]
    own = BatchPrediction.objects.create(requested_by=plain_user, status="queued")

    listed = plain_api.get("/api/predictions/batches/").json()["results"]
    assert [row["id"] for row in listed] == [str(own.pk)]
    assert plain_api.get(f"/api/predictions/batches/{others}/").status_code == 404
    assert plain_api.get(f"/api/predictions/batches/{others}/result/").status_code == 404
    assert plain_api.get(f"/api/predictions/batches/{own.pk}/").status_code == 200
    staff_rows = staff_api.get("/api/predictions/batches/").json()["results"]
    assert {row["id"] for row in staff_rows} == {others, str(own.pk)}, "staff see every batch"
    assert staff_api.get(f"/api/predictions/batches/{others}/result/").status_code == 200


def test_a_batch_takes_a_file_as_multipart_or_a_date_as_json(staff_api, active_models):
    from predictions.models import BatchPrediction

    no_file = staff_api.post("/api/predictions/batch/", {}, format="multipart")
    date_as_form = staff_api.post(
        "/api/predictions/batch/", {"since": "2020-01-01T00:00:00Z"}, format="multipart"
    )
    file_as_json = staff_api.post("/api/predictions/batch/", {"file": "results.csv"})
    no_date = staff_api.post("/api/predictions/batch/since/", {})
    date_as_form_since = staff_api.post(
        "/api/predictions/batch/since/", {"since": "2020-01-01T00:00:00Z"}, format="multipart"
    )

    assert list(no_file.json()["errors"]) == ["file"]
    assert list(date_as_form.json()["errors"]) == ["file"]
    assert file_as_json.status_code == 415
    assert list(no_date.json()["errors"]) == ["since"]
    assert date_as_form_since.status_code == 415
    assert not BatchPrediction.objects.exists()


def test_predicting_accepts_knr_in_either_spelling(staff_api, active_models, stored_knrs):
    response = staff_api.post("/api/predictions/", {"knr": stored_knrs[1]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["KNR"] == stored_knrs[1]


def test_editing_refuses_values_of_the_wrong_type(staff_api, known_predictions):
    url = "/api/predictions/2024-0000005/"
    for body in ({"indicated_tests": [0]}, {"real_fail_codes": ["2"]},
                 {"real_fail_codes": [True]}, {"real_fail_codes": 2}):
        response = staff_api.patch(url, body, format="json")
        assert response.status_code == 400, body
        assert list(response.json()["errors"])[0].split(".")[0] == next(iter(body))
    assert Prediction.objects.get(knr="2024-0000005").real_fail_codes is None
