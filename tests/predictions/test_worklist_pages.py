"""The worklist and the capacity where people meet them: the REST API, the admin's Worklist page
with its CSV and Excel exports, the dashboard, a vehicle's page."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from openpyxl import load_workbook

from predictions import arrivals, services
from predictions.capacity import Capacity, get_capacity, set_inspection_capacity
from predictions.models import Prediction
from tests.predictions.conftest import DAYS

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(active_models, two_days) -> dict[str, list[Prediction]]:
    """Both days predicted at a capacity of 20%: day → its flagged vehicles, riskiest first."""
    set_inspection_capacity(share=0.2)
    services.predict_knrs(knrs=[k for day in two_days.values() for k in day])
    return {
        day: sorted(Prediction.objects.filter(knr__in=knrs, predicted_fail=True),
                    key=lambda p: -p.risk)
        for day, knrs in two_days.items()
    }


def test_the_api_worklist_of_a_day_lists_its_vehicles_by_risk_with_why(staff_api, listed):
    body = staff_api.get(f"/api/worklist/?date={DAYS[0]}").json()

    expected = listed[DAYS[0]]
    assert [v["KNR"] for v in body["vehicles"]] == [p.knr for p in expected]
    assert [v["rank"] for v in body["vehicles"]] == [1, 2, 3, 4]
    assert body["days"] == [{"date": DAYS[0], "vehicles": 20, "allowed": 4, "listed": 4}]
    assert body["capacity"] == "20% of each production day's vehicles"
    first = body["vehicles"][0]
    assert first["indicated_tests"] == expected[0].indicated_tests
    assert [g["code"] for g in first["fail_groups"]] == expected[0].predicted_fail_codes
    assert first["fail_groups"][0]["name"] in ("2 Central part", "4 Doors")
    assert first["reasons"] and all(r["text"] for r in first["reasons"])
    # A range, and by default the latest day.
    both = staff_api.get(f"/api/worklist/?date={DAYS[0]}&to={DAYS[1]}").json()
    assert len(both["vehicles"]) == 8 and len(both["days"]) == 2
    latest = staff_api.get("/api/worklist/").json()
    assert latest["date"] == DAYS[1]


def test_the_api_worklist_as_csv_lists_the_vehicles_by_risk(staff_api, listed):
    response = staff_api.get(f"/api/worklist/?date={DAYS[1]}&format=csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"worklist-{DAYS[1]}.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["KNR"] for r in rows] == [p.knr for p in listed[DAYS[1]]]
    risks = [float(r["risk"]) for r in rows]
    assert risks == sorted(risks, reverse=True)
    assert all(r["why (the test results that raised its risk most)"] for r in rows)


@pytest.mark.parametrize("query", ["date=2024-13-01", "date=2024-03-05&to=2024-03-04",
                                   "date=", "date=2024-03-04&date=2024-03-05"])
@pytest.mark.parametrize("as_csv", [False, True])
def test_a_bad_worklist_query_is_a_400_naming_it(staff_api, query, as_csv):
    response = staff_api.get(f"/api/worklist/?{query}" + ("&format=csv" if as_csv else ""))
    assert response.status_code == 400, response.content
    # JSON, as the schema says, even when CSV was asked for.
    assert response["Content-Type"] == "application/json"
    assert set(response.json()["errors"]) & {"date", "to"}


def test_the_capacity_api_reads_and_sets_it(admin_user_client, staff_api, monkeypatch):
    queued = []
    monkeypatch.setattr(arrivals, "async_task", lambda *a, **k: queued.append(a))
    api = admin_user_client
    assert api.get("/api/inspection-capacity/").json()["share"] is None

    answer = api.put("/api/inspection-capacity/", {"share": 0.2}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["description"] == "20% of each production day's vehicles"
    assert get_capacity() == Capacity(share=0.2)
    assert queued == [("predictions.tasks.flag_again",)], "flagged again"

    api.put("/api/inspection-capacity/", {"vehicles_per_day": 150},
            content_type="application/json")
    assert get_capacity() == Capacity(vehicles_per_day=150)
    api.put("/api/inspection-capacity/", {}, content_type="application/json")
    assert not get_capacity().is_set
    # Every user reads it.
    assert staff_api.get("/api/inspection-capacity/").json()["label_window_in_force"] == 14


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"share": 20}, "share", "0.2 means 20%"),
        ({"share": "0.2"}, "share", "number"),
        ({"share": 0}, "share", "above 0"),
        ({"vehicles_per_day": 0}, "vehicles_per_day", "greater than or equal to 1"),
        ({"share": 0.2, "vehicles_per_day": 3}, "share", "not both"),
        ({"label_window_days": -1}, "label_window_days", "greater than or equal to 0"),
        ({"label_window_days": 3651}, "label_window_days", "less than or equal to 3650"),
    ],
)
def test_a_bad_capacity_is_a_400_naming_the_field(admin_user_client, body, field, says):
    set_inspection_capacity(share=0.1)
    answer = admin_user_client.put("/api/inspection-capacity/", body,
                                   content_type="application/json")
    assert answer.status_code == 400
    assert says in " ".join(answer.json()["errors"][field])
    assert get_capacity() == Capacity(share=0.1)


def test_the_capacity_api_takes_json_only(admin_user_client):
    answer = admin_user_client.put("/api/inspection-capacity/", "share=0.2",
                                   content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 415
    assert not get_capacity().is_set


def test_only_users_with_the_permission_change_the_capacity(staff_api, staff_user):
    refused = staff_api.put("/api/inspection-capacity/", {"share": 0.2}, format="json")
    assert refused.status_code == 403
    staff_user.user_permissions.add(Permission.objects.get(codename="change_inspectioncapacity"))
    staff_user = type(staff_user).objects.get(pk=staff_user.pk)  # permissions read afresh
    staff_api.force_authenticate(staff_user)
    assert staff_api.put("/api/inspection-capacity/", {"share": 0.2},
                         format="json").status_code == 200


def test_the_admin_worklist_page_and_its_exports(admin_user_client, listed):
    page = admin_user_client.get(f"/admin/predictions/worklist/?date={DAYS[0]}")
    html = page.content.decode()
    assert page.status_code == 200
    for prediction in listed[DAYS[0]]:
        assert f">{prediction.knr}</a>" in html
        assert prediction.explanation[0]["text"] in html
    assert html.index(listed[DAYS[0]][0].knr) < html.index(listed[DAYS[0]][-1].knr)
    assert "20% of each production day&#x27;s vehicles" in html

    exported = admin_user_client.get(f"/admin/predictions/worklist/?date={DAYS[0]}&export=xlsx")
    assert exported["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(exported.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("rank", "KNR", "production day", "risk")
    assert [row[1] for row in values[1:]] == [p.knr for p in listed[DAYS[0]]]
    csv_export = admin_user_client.get(f"/admin/predictions/worklist/?date={DAYS[0]}&export=csv")
    assert csv_export.content.decode().splitlines()[1].split(",")[1] == listed[DAYS[0]][0].knr


def test_the_dashboard_says_what_flags_and_links_its_cards(admin_user_client, listed):
    html = admin_user_client.get("/admin/").content.decode()
    assert "20% of each production day&#x27;s vehicles (the worklist)" in html
    assert 'href="/admin/predictions/worklist/"' in html
    assert 'href="/admin/predictions/prediction/?predicted_fail__exact=1"' in html
    # The flagged share the dashboard shows is the worklist's: 8 of 40.
    assert "20.0%</span><span class=\"label\">of 40 vehicles flagged" in html
    set_inspection_capacity(share=None)
    html = admin_user_client.get("/admin/").content.decode()
    assert "each model&#x27;s threshold policy flags" in html


def test_a_vehicles_page_and_its_prediction_say_why_it_is_listed(admin_user_client, listed):
    from plant.models import Vehicle

    top = listed[DAYS[0]][0]
    vehicle = Vehicle.objects.get(knr=top.knr)
    html = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/").content.decode()
    assert "Why it is on the worklist" in html and top.explanation[0]["text"] in html
    html = admin_user_client.get(f"/admin/predictions/prediction/{top.pk}/change/").content.decode()
    assert top.explanation[0]["text"] in html
    body = admin_user_client.get(f"/api/predictions/{top.knr}/").json()
    assert body["explanation"][0]["text"] == top.explanation[0]["text"]
    assert body["risk"] == pytest.approx(top.risk)
