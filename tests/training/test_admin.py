"""The admin: dataset upload with its report, dataset list and delete, vehicles by KNR."""

from pathlib import Path

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from training import imports
from training.demo import generate_demo_data
from training.models import Dataset, Vehicle, VehicleRecord

KNRS = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return generate_demo_data(knrs=KNRS, out_dir=tmp_path_factory.mktemp("demo"), seed=21)


@pytest.fixture
def imported(demo):
    results = imports.import_dataset(path=demo["results"], original_name="results.csv.gz",
                                      kind="results")
    defects = imports.import_dataset(path=demo["defects"], original_name="defects.csv",
                                      kind="defects")
    return results, defects


def upload(client, path: Path, kind: str):
    with path.open("rb") as handle:
        return client.post("/admin/training/dataset/add/", {"kind": kind, "file": handle})


@pytest.mark.django_db
def test_uploading_in_the_admin_imports_and_shows_the_report(admin_user_client, demo):
    response = upload(admin_user_client, demo["defects"], "defects")

    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/training/dataset/{dataset.pk}/change/"
    assert dataset.uploaded_by == admin_user_client.user
    assert dataset.rows_dropped > 0
    page = admin_user_client.get(response["Location"]).content.decode()
    assert f"{dataset.rows_read:,} rows read, {dataset.rows_accepted:,} accepted" in page
    assert "S_GROUP_ID is -2 or #MULTIVALUE (no fail group)" in page
    assert f"Imported defects.csv: {dataset.rows_accepted:,} rows accepted" in page


@pytest.mark.django_db
def test_a_refused_upload_shows_the_error_on_the_form_and_stores_nothing(admin_user_client,
                                                                          demo):
    response = upload(admin_user_client, demo["defects"], "results")

    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors == [
        "defects.csv is missing required columns for a results export: NAME, ID, STATUS, UNIT, "
        "VALUE_ID, VALUE. This looks like a defects export."
    ]
    assert "This looks like a defects export." in response.content.decode()
    assert Dataset.objects.count() == VehicleRecord.objects.count() == Vehicle.objects.count() == 0


@pytest.mark.django_db
def test_the_upload_form_needs_a_file(admin_user_client):
    response = admin_user_client.post("/admin/training/dataset/add/", {"kind": "results"})
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["This field is required."]


@pytest.mark.django_db
def test_the_dataset_list_shows_counts_and_status(admin_user_client, imported):
    results, _ = imported
    page = admin_user_client.get("/admin/training/dataset/").content.decode()
    assert "results.csv.gz" in page and "defects.csv" in page
    assert f"<td class=\"field-rows_read\">{results.rows_read}</td>" in page.replace(",", "")
    assert "Ready" in page


@pytest.mark.django_db
def test_deleting_a_dataset_in_the_admin_removes_its_file_and_updates_vehicles(
    admin_user_client, imported
):
    _, defects = imported
    assert default_storage.exists(defects.file)

    response = admin_user_client.post(
        f"/admin/training/dataset/{defects.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Dataset.objects.filter(pk=defects.pk).exists()
    assert not default_storage.exists(defects.file)
    assert not Vehicle.objects.filter(has_defects=True).exists()


@pytest.mark.django_db
def test_bulk_deleting_datasets_in_the_admin_removes_files_and_vehicles(
    admin_user_client, imported
):
    response = admin_user_client.post("/admin/training/dataset/", {
        "action": "delete_selected", "_selected_action": [str(d.pk) for d in imported],
        "post": "yes",
    })
    assert response.status_code == 302
    assert Dataset.objects.count() == 0
    assert not any(default_storage.exists(d.file) for d in imported)
    assert Vehicle.objects.count() == 0


def listed_knrs(client, query: str) -> set[str]:
    response = client.get(f"/admin/training/vehicle/?{query}")
    assert response.status_code == 200
    return {v.knr for v in response.context["cl"].result_list}


@pytest.mark.django_db
def test_vehicle_admin_searches_by_knr_and_filters(admin_user_client, imported, demo):
    knr = Vehicle.objects.order_by("knr")[3].knr
    assert listed_knrs(admin_user_client, f"q={knr}") == {knr}

    with_defects = set(Vehicle.objects.filter(has_defects=True).values_list("knr", flat=True))
    assert 0 < len(with_defects) < KNRS
    assert listed_knrs(admin_user_client, "has_defects__exact=1") == with_defects

    defects = pd.read_csv(demo["defects"], dtype=str)
    doors = set(defects[defects["S_GROUP_ID"].isin(["4", "4.0"])]["KNR"])
    assert doors
    assert listed_knrs(admin_user_client, "fail_group=4") == doors

    first = Vehicle.objects.order_by("first_test_at").first().first_test_at
    month = f"{first:%Y-%m}"
    in_month = {
        v.knr for v in Vehicle.objects.all() if f"{v.first_test_at:%Y-%m}" == month
    }
    assert 0 < len(in_month) < KNRS
    assert listed_knrs(admin_user_client, f"month={month}") == in_month
    page = admin_user_client.get("/admin/training/vehicle/").content.decode()
    assert f"{first:%B %Y}" in page  # the month filter lists the months with vehicles


@pytest.mark.django_db
def test_vehicle_admin_page_shows_every_test_and_defect(admin_user_client, imported):
    vehicle = Vehicle.objects.filter(has_defects=True).order_by("knr").first()
    response = admin_user_client.get(f"/admin/training/vehicle/{vehicle.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('<tr class="ok">') + page.count('<tr class="nok">') == vehicle.test_count
    assert page.count('<tr class="nok">') == vehicle.nok_count
    assert "SECTION_ZP8_00000001" in page
    record = VehicleRecord.objects.filter(knr=vehicle.knr, kind="defects").first()
    falha = record.rows[0][record.columns.index("FALHA")]
    assert falha in page
    assert "Save" not in page  # read-only
