"""The admin: dataset upload with its report, dataset list and delete, vehicles by KNR."""

from pathlib import Path

import pandas as pd
import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage

from crossline import numbers
from plant import imports
from plant.demo import generate_demo_data
from plant.models import Dataset, FailGroup, Vehicle, VehicleRecord

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
        return client.post("/admin/plant/dataset/add/", {"kind": kind, "file": handle})


@pytest.mark.django_db
def test_uploading_in_the_admin_imports_and_shows_the_report(admin_user_client, demo):
    response = upload(admin_user_client, demo["defects"], "defects")

    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/plant/dataset/{dataset.pk}/change/"
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
    response = admin_user_client.post("/admin/plant/dataset/add/", {"kind": "results"})
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["This field is required."]


@pytest.mark.django_db
def test_the_dataset_list_shows_counts_and_status(admin_user_client, imported):
    results, _ = imported
    page = admin_user_client.get("/admin/plant/dataset/").content.decode()
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
        f"/admin/plant/dataset/{defects.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Dataset.objects.filter(pk=defects.pk).exists()
    assert not default_storage.exists(defects.file)
    assert not Vehicle.objects.filter(has_defects=True).exists()


@pytest.mark.django_db
def test_deleting_a_dataset_in_the_admin_needs_the_permission(
    client, staff_user, lead_user, imported
):
    _, defects = imported
    staff_user.user_permissions.set(Permission.objects.filter(codename="view_dataset"))
    client.force_login(staff_user)
    url = f"/admin/plant/dataset/{defects.pk}/delete/"

    listing = client.get("/admin/plant/dataset/")
    page = client.get(f"/admin/plant/dataset/{defects.pk}/change/").content.decode()

    assert listing.status_code == 200 and listing.context["action_form"] is None
    assert url not in page
    assert client.post(url, {"post": "yes"}).status_code == 403
    client.post("/admin/plant/dataset/", {
        "action": "delete_selected", "_selected_action": [str(defects.pk)], "post": "yes",
    })
    assert Dataset.objects.filter(pk=defects.pk).exists()
    assert default_storage.exists(defects.file)

    client.force_login(lead_user)
    assert url in client.get(f"/admin/plant/dataset/{defects.pk}/change/").content.decode()
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Dataset.objects.filter(pk=defects.pk).exists()
    assert not Vehicle.objects.filter(has_defects=True).exists()


@pytest.mark.django_db
def test_bulk_deleting_datasets_in_the_admin_removes_files_and_vehicles(
    admin_user_client, imported
):
    response = admin_user_client.post("/admin/plant/dataset/", {
        "action": "delete_selected", "_selected_action": [str(d.pk) for d in imported],
        "post": "yes",
    })
    assert response.status_code == 302
    assert Dataset.objects.count() == 0
    assert not any(default_storage.exists(d.file) for d in imported)
    assert Vehicle.objects.count() == 0


def listed_knrs(client, query: str) -> set[str]:
    response = client.get(f"/admin/plant/vehicle/?{query}")
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
    # Not a code: no filter (a superscript digit passes str.isdigit() but not int()).
    everyone = set(Vehicle.objects.values_list("knr", flat=True))
    assert listed_knrs(admin_user_client, "fail_group=²") == everyone



@pytest.mark.django_db
def test_the_vehicle_month_filter_holds_the_month_s_first_and_last_second_in_the_plant_s_time(
    admin_user_client, month_edges
):
    assert listed_knrs(admin_user_client, f"month={month_edges.month}") == month_edges.inside
    assert listed_knrs(admin_user_client, "month=2024-02") == {"2024-0000001"}
    assert listed_knrs(admin_user_client, "month=2024-04") == {"2024-0000004"}
    # The filter lists the months with vehicles, in the plant's time.
    lookups = admin_user_client.get("/admin/plant/vehicle/").context["cl"].filter_specs[-1]
    assert [title for _, title in lookups.lookup_choices] == [
        "April 2024", "March 2024", "February 2024"
    ]


@pytest.mark.django_db
def test_vehicle_admin_page_shows_every_test_and_defect(admin_user_client, imported):
    vehicle = Vehicle.objects.filter(has_defects=True).order_by("knr").first()
    response = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('<tr class="ok">') + page.count('<tr class="nok">') == vehicle.test_count
    assert page.count('<tr class="nok">') == vehicle.nok_count
    assert "SECTION_ZP8_00000001" in page
    record = VehicleRecord.objects.filter(knr=vehicle.knr, kind="defects").first()
    falha = record.rows[0][record.columns.index("FALHA")]
    assert falha in page
    assert "Save" not in page  # read-only


@pytest.mark.django_db
def test_the_vehicle_page_shows_a_tests_text_as_text_and_its_values_as_read(
    admin_user_client, imported
):
    results, _ = imported
    vehicle = Vehicle.objects.order_by("knr").first()
    VehicleRecord.objects.create(
        knr=vehicle.knr, dataset=results, kind="results", row_count=1,
        columns=["NAME", "ID", "STATUS", "UNIT", "VALUE_ID", "VALUE", "DATA"],
        rows=[['<script>alert("x")</script>', 718, 13, "Nm & <V>", 2.0, 12.743, 0]],
    )

    page = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/").content.decode()

    assert "<script>alert" not in page
    row = ('<tr class="nok"><td>1970-01-01 00:00:00.000</td>'
           "<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td><td>718</td>"
           '<td>Nm &amp; &lt;V&gt;</td><td>2.0</td><td class="number">12.743</td>'
           '<td class="status">NOK</td></tr>')
    assert row in page


@pytest.mark.django_db
def test_the_upload_form_has_django_6_breadcrumbs(admin_user_client):
    page = admin_user_client.get("/admin/plant/dataset/add/").content.decode()
    assert '<ol class="breadcrumbs">' in page
    assert '<div class="breadcrumbs">' not in page


@pytest.mark.django_db
def test_the_vehicle_page_highlights_nok_results_and_links_its_datasets(
    admin_user_client, imported
):
    results, defects = imported
    vehicle = Vehicle.objects.filter(nok_count__gt=0, has_defects=True).first()
    assert vehicle is not None

    page = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/").content.decode()

    assert page.count('<tr class="nok">') == vehicle.nok_count
    assert "tr.nok td" in admin_css()
    for dataset in (results, defects):
        url = f"/admin/plant/dataset/{dataset.pk}/change/"
        assert f'<a href="{url}">{dataset}</a>' in page
    assert "Dataset ids" not in page and str(vehicle.dataset_ids) not in page


def admin_css() -> str:
    from django.contrib.staticfiles import finders

    return Path(finders.find("crossline/admin.css")).read_text()


@pytest.mark.django_db
def test_fail_groups_are_named_from_the_editable_mapping(admin_user_client, imported):
    FailGroup.objects.update_or_create(code=4, defaults={"name": "Doors and hatches"})
    vehicle = Vehicle.objects.filter(fail_group_codes__contains=",4,").first()

    listing = admin_user_client.get("/admin/plant/vehicle/").content.decode()
    page = admin_user_client.get(f"/admin/plant/vehicle/{vehicle.pk}/change/").content.decode()

    assert "Doors and hatches" in listing  # in the filter and the fail-group column
    assert "?fail_group=4" in listing
    assert "Doors and hatches</td>" in page


@pytest.mark.django_db
def test_a_vehicle_page_opens_by_knr(admin_user_client, imported):
    vehicle = Vehicle.objects.order_by("knr").first()
    response = admin_user_client.get(f"/admin/plant/vehicle/knr/{vehicle.knr}/")
    assert response["Location"] == f"/admin/plant/vehicle/{vehicle.pk}/change/"
    missing = admin_user_client.get("/admin/plant/vehicle/knr/2099-0000000/")
    assert missing["Location"] == "/admin/plant/vehicle/"


@pytest.mark.django_db
def test_a_dataset_downloads_as_its_stored_parquet(admin_user_client, imported):
    results, _ = imported

    page = admin_user_client.get(f"/admin/plant/dataset/{results.pk}/change/")
    response = admin_user_client.get(f"/admin/plant/dataset/{results.pk}/download/")

    assert f"/admin/plant/dataset/{results.pk}/download/" in page.content.decode()
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="results.parquet"'
    body = b"".join(response.streaming_content)
    frame = pd.read_parquet(__import__("io").BytesIO(body))
    assert len(frame) == results.rows_accepted


@pytest.mark.django_db
def test_a_dataset_downloads_as_csv_too_and_shows_its_size_for_people(
    admin_user_client, imported, monkeypatch
):
    results, _ = imported
    monkeypatch.setattr("plant.exports.BATCH_ROWS", 7)  # several batches, one header

    page = admin_user_client.get(f"/admin/plant/dataset/{results.pk}/change/").content.decode()
    response = admin_user_client.get(f"/admin/plant/dataset/{results.pk}/download.csv")

    assert f"/admin/plant/dataset/{results.pk}/download.csv" in page
    assert "Download (CSV)" in page
    assert "Size bytes" not in page and numbers.file_size(results.size_bytes) in page
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="results.csv"'
    body = b"".join(response.streaming_content)
    stored = pd.read_parquet(default_storage.open(results.file, "rb"))
    frame = pd.read_csv(__import__("io").BytesIO(body), dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(stored.columns)
    assert len(frame) == results.rows_accepted > 7
    first = stored.columns[0]
    assert frame[first].tolist() == stored[first].astype(str).tolist()


def test_file_sizes_read_as_people_write_them():
    assert [numbers.file_size(n) for n in (999, 50_699, 1_234_567, 12_345_678_901)] == [
        "999 bytes", "50.7 KB", "1.23 MB", "12.3 GB",
    ]


@pytest.mark.django_db
def test_an_import_reports_its_progress_as_json(admin_user_client, imported):
    results, _ = imported
    Dataset.objects.filter(pk=results.pk).update(status=Dataset.Status.IMPORTING, progress=40)

    state = admin_user_client.get(f"/admin/plant/dataset/{results.pk}/progress/").json()
    page = admin_user_client.get(f"/admin/plant/dataset/{results.pk}/change/").content.decode()

    assert (state["status"], state["progress"], state["done"]) == ("importing", 40, False)
    assert f'data-progress-url="/admin/plant/dataset/{results.pk}/progress/"' in page
    assert 'data-done="false"' in page
    assert "crossline/progress.js" in page


@pytest.mark.django_db
def test_fail_group_names_and_indicated_tests_are_editable(admin_user_client):
    doors = FailGroup.objects.get(code=4)
    response = admin_user_client.post(
        f"/admin/plant/failgroup/{doors.pk}/change/",
        {"code": 4, "name": "Doors and hatches", "inspections": '["Door water test"]'},
    )
    assert response.status_code == 302
    doors.refresh_from_db()
    assert (doors.name, doors.inspections) == ("Doors and hatches", ["Door water test"])
    listing = admin_user_client.get("/admin/plant/failgroup/").content.decode()
    assert "Doors and hatches" in listing and "Door water test" in listing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/admin/training/vehicle/", "/admin/plant/vehicle/"),
        ("/admin/training/vehicle/knr/2024-2000001/", "/admin/plant/vehicle/knr/2024-2000001/"),
        ("/admin/training/dataset/add/", "/admin/plant/dataset/add/"),
        ("/admin/training/dataset/?status__exact=ready",
         "/admin/plant/dataset/?status__exact=ready"),
        ("/admin/predictions/indicatedtest/", "/admin/plant/failgroup/"),
    ],
)
def test_the_old_admin_urls_of_plant_data_redirect_to_their_new_place(admin_user_client, old, new):
    response = admin_user_client.get(old)

    assert response.status_code == 301
    assert response["Location"] == new
    # The new place answers; a vehicle's link, for a KNR not imported here, leads to the list.
    arrived = admin_user_client.get(new)
    if "/knr/" in new:
        assert (arrived.status_code, arrived["Location"]) == (302, "/admin/plant/vehicle/")
    else:
        assert arrived.status_code == 200


@pytest.mark.django_db
def test_an_old_fail_group_link_opens_the_same_group(admin_user_client):
    doors = FailGroup.objects.get(code=4)

    response = admin_user_client.get(
        f"/admin/predictions/indicatedtest/{doors.pk}/change/", follow=True
    )

    assert response.redirect_chain == [(f"/admin/plant/failgroup/{doors.pk}/change/", 301)]
    assert response.status_code == 200
    assert 'value="Doors"' in response.content.decode()
    # Training's own pages stay where they were.
    assert admin_user_client.get("/admin/training/trainingrun/").status_code == 200
