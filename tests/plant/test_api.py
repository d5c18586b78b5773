"""The REST API: dataset upload, list, delete; vehicles with filters and their detail."""

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from plant import imports
from plant.demo import generate_demo_data
from plant.models import Dataset, Vehicle

KNRS = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return generate_demo_data(knrs=KNRS, out_dir=tmp_path_factory.mktemp("demo"), seed=31)


@pytest.fixture
def imported(demo):
    return [
        imports.import_dataset(path=demo[kind], original_name=demo[kind].name, kind=kind)
        for kind in ("results", "defects")
    ]


def post_file(api, path: Path, kind: str):
    with path.open("rb") as handle:
        return api.post("/api/datasets/", {"kind": kind, "file": handle}, format="multipart")


@pytest.mark.django_db
def test_uploading_returns_201_with_the_report(staff_api, demo):
    response = post_file(staff_api, demo["results"], "results")

    assert response.status_code == 201, response.content
    body = response.json()
    dataset = Dataset.objects.get()
    assert str(body["id"]) == str(dataset.pk)
    assert body["status"] == "ready"
    assert body["rows_accepted"] == dataset.rows_accepted > 0
    assert body["knr_count"] == KNRS
    assert body["report"]["rows_read"] == dataset.rows_read
    unparseable = body["report"]["problems"]["VALUE is not a number (kept as empty)"]
    assert (unparseable["field"], unparseable["action"]) == ("VALUE", "kept")
    assert unparseable["count"] == len(unparseable["examples"]) or unparseable["count"] > 5
    assert {type(e["row"]) for e in unparseable["examples"]} == {int}
    assert body["uploaded_by"] == staff_api.user.username
    assert Vehicle.objects.count() == KNRS


@pytest.mark.django_db
def test_a_dataset_not_imported_yet_has_no_report(plain_api):
    queued = Dataset.objects.create(
        kind="results", original_name="big.csv", size_bytes=9, sha256="0" * 64, status="queued"
    )
    assert plain_api.get(f"/api/datasets/{queued.pk}/").json()["report"] is None


@pytest.mark.django_db
def test_a_vehicle_names_its_exports_by_string_ids(plain_api, imported):
    [vehicle] = plain_api.get("/api/vehicles/?page=1").json()["results"][:1]
    assert vehicle["dataset_ids"] == [str(d.pk) for d in imported]


@pytest.mark.django_db
def test_a_duplicate_upload_returns_409_naming_the_problem(staff_api, demo):
    post_file(staff_api, demo["results"], "results")

    response = post_file(staff_api, demo["results"], "results")

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_upload"
    assert response.json()["detail"].startswith("results.csv.gz was already imported as dataset")
    assert Dataset.objects.count() == 1


@pytest.mark.django_db
def test_an_upload_without_a_valid_kind_is_a_400(staff_api, demo):
    with demo["results"].open("rb") as handle:
        response = staff_api.post("/api/datasets/", {"kind": "photos", "file": handle},
                                  format="multipart")
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]
    assert Dataset.objects.count() == 0


@pytest.mark.django_db
def test_only_staff_may_upload_or_delete(plain_api, imported, demo):
    assert post_file(plain_api, demo["defects"], "defects").status_code == 403
    dataset = imported[0]
    assert plain_api.delete(f"/api/datasets/{dataset.pk}/").status_code == 403
    assert Dataset.objects.count() == 2
    assert plain_api.get("/api/datasets/").status_code == 200


@pytest.mark.django_db
def test_anonymous_users_are_refused(client, imported):
    assert client.get("/api/datasets/").status_code == 401
    assert client.get("/api/vehicles/").status_code == 401
    assert client.post("/api/datasets/", {"kind": "results"}).status_code == 401


@pytest.mark.django_db
def test_datasets_list_and_retrieve(plain_api, imported):
    listed = plain_api.get("/api/datasets/").json()
    assert listed["count"] == 2
    assert {d["kind"] for d in listed["results"]} == {"results", "defects"}
    dataset = imported[1]
    body = plain_api.get(f"/api/datasets/{dataset.pk}/").json()
    assert body["rows_dropped"] == dataset.rows_dropped > 0
    assert plain_api.get("/api/datasets/?kind=defects").json()["count"] == 1


@pytest.mark.django_db
def test_deleting_a_dataset_needs_the_permission_and_removes_its_stored_file(
    staff_api, lead_api, imported
):
    results, defects = imported

    refused = staff_api.delete(f"/api/datasets/{defects.pk}/")

    assert (refused.status_code, refused.json()) == (403, {
        "detail": "This needs the permission plant.delete_dataset.",
        "code": "permission_denied",
        "errors": {},
    })
    assert default_storage.exists(defects.file)
    assert Vehicle.objects.filter(has_defects=True).exists()

    response = lead_api.delete(f"/api/datasets/{defects.pk}/")

    assert response.status_code == 204
    assert not default_storage.exists(defects.file)
    assert default_storage.exists(results.file)
    assert not Vehicle.objects.filter(has_defects=True).exists()


def knrs(api, query: str) -> set[str]:
    response = api.get(f"/api/vehicles/?{query}")
    assert response.status_code == 200, response.content
    return {v["KNR"] for v in response.json()["results"]}


@pytest.mark.django_db
def test_vehicles_filter_by_defects_fail_group_and_search(plain_api, imported):
    with_defects = set(Vehicle.objects.filter(has_defects=True).values_list("knr", flat=True))
    assert 0 < len(with_defects) < KNRS
    assert knrs(plain_api, "has_defects=true") == with_defects
    assert knrs(plain_api, "has_defects=false") == set(
        Vehicle.objects.filter(has_defects=False).values_list("knr", flat=True)
    )
    central = {v.knr for v in Vehicle.objects.all() if 2 in v.fail_groups}
    assert central and knrs(plain_api, "fail_group=2") == central
    first = Vehicle.objects.order_by("first_test_at").first()
    assert knrs(plain_api, f"search={first.knr}") == {first.knr}


@pytest.mark.django_db
def test_the_month_filter_holds_the_month_s_first_and_last_second_in_the_plant_s_time(
    plain_api, month_edges
):
    assert knrs(plain_api, f"month={month_edges.month}") == month_edges.inside
    assert knrs(plain_api, "month=2024-02") == {"2024-0000001"}
    assert knrs(plain_api, "month=2024-04") == {"2024-0000004"}
    assert plain_api.get("/api/vehicles/?month=2024-13").status_code == 400


@pytest.mark.django_db
def test_a_vehicle_by_knr_comes_with_its_tests_and_defects(plain_api, imported):
    vehicle = Vehicle.objects.filter(has_defects=True).order_by("knr").last()

    response = plain_api.get(f"/api/vehicles/{vehicle.knr}/")

    assert response.status_code == 200
    body = response.json()
    assert body["KNR"] == vehicle.knr
    assert len(body["tests"]) == vehicle.test_count
    assert sum(t["status"] == "NOK" for t in body["tests"]) == vehicle.nok_count
    assert [t["at"] for t in body["tests"]] == sorted(t["at"] for t in body["tests"])
    assert len(body["defects"]) == vehicle.defect_count
    assert sorted({d["fail_group"] for d in body["defects"]}) == vehicle.fail_groups
    assert body["fail_groups"] == vehicle.fail_groups


@pytest.mark.django_db
def test_an_unknown_knr_is_a_404(plain_api, imported):
    assert plain_api.get("/api/vehicles/2099-9999999/").status_code == 404
