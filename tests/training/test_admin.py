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


@pytest.mark.django_db
def test_the_upload_form_has_django_6_breadcrumbs(admin_user_client):
    page = admin_user_client.get("/admin/training/dataset/add/").content.decode()
    assert '<ol class="breadcrumbs">' in page
    assert '<div class="breadcrumbs">' not in page


@pytest.mark.django_db
def test_the_vehicle_page_highlights_nok_results_and_links_its_datasets(
    admin_user_client, imported
):
    results, defects = imported
    vehicle = Vehicle.objects.filter(nok_count__gt=0, has_defects=True).first()
    assert vehicle is not None

    page = admin_user_client.get(f"/admin/training/vehicle/{vehicle.pk}/change/").content.decode()

    assert page.count('<tr class="nok">') == vehicle.nok_count
    assert "tr.nok td" in admin_css()
    for dataset in (results, defects):
        url = f"/admin/training/dataset/{dataset.pk}/change/"
        assert f'<a href="{url}">{dataset}</a>' in page
    assert "Dataset ids" not in page and str(vehicle.dataset_ids) not in page


def admin_css() -> str:
    from django.contrib.staticfiles import finders

    return Path(finders.find("crossline/admin.css")).read_text()


@pytest.mark.django_db
def test_fail_groups_are_named_from_the_editable_mapping(admin_user_client, imported):
    from predictions.models import IndicatedTest

    # Created here: a MongoDB test database may not keep the migrations' default rows.
    IndicatedTest.objects.update_or_create(fail_group=4, defaults={"zone": "Doors and hatches"})
    vehicle = Vehicle.objects.filter(fail_group_codes__contains=",4,").first()

    listing = admin_user_client.get("/admin/training/vehicle/").content.decode()
    page = admin_user_client.get(f"/admin/training/vehicle/{vehicle.pk}/change/").content.decode()

    assert "Doors and hatches" in listing  # in the filter and the fail-group column
    assert "?fail_group=4" in listing
    assert "Doors and hatches</td>" in page


@pytest.mark.django_db
def test_a_vehicle_page_opens_by_knr(admin_user_client, imported):
    vehicle = Vehicle.objects.order_by("knr").first()
    response = admin_user_client.get(f"/admin/training/vehicle/knr/{vehicle.knr}/")
    assert response["Location"] == f"/admin/training/vehicle/{vehicle.pk}/change/"
    missing = admin_user_client.get("/admin/training/vehicle/knr/2099-0000000/")
    assert missing["Location"] == "/admin/training/vehicle/"


@pytest.mark.django_db
def test_a_dataset_downloads_as_its_stored_parquet(admin_user_client, imported):
    results, _ = imported

    page = admin_user_client.get(f"/admin/training/dataset/{results.pk}/change/")
    response = admin_user_client.get(f"/admin/training/dataset/{results.pk}/download/")

    assert f"/admin/training/dataset/{results.pk}/download/" in page.content.decode()
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="results.parquet"'
    body = b"".join(response.streaming_content)
    frame = pd.read_parquet(__import__("io").BytesIO(body))
    assert len(frame) == results.rows_accepted


@pytest.mark.django_db
def test_an_import_reports_its_progress_as_json(admin_user_client, imported):
    results, _ = imported
    Dataset.objects.filter(pk=results.pk).update(status=Dataset.Status.IMPORTING, progress=40)

    state = admin_user_client.get(f"/admin/training/dataset/{results.pk}/progress/").json()
    page = admin_user_client.get(f"/admin/training/dataset/{results.pk}/change/").content.decode()

    assert (state["status"], state["progress"], state["done"]) == ("importing", 40, False)
    assert f'data-progress-url="/admin/training/dataset/{results.pk}/progress/"' in page
    assert 'data-done="false"' in page
    assert "crossline/progress.js" in page


@pytest.mark.django_db
def test_a_running_training_run_says_which_step_of_how_many(admin_user_client):
    from training.models import TrainingRun

    steps = [{"step": name} for name in ("load_datasets", "clean", "build_features")]
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.RUNNING,
        pipeline={"steps": steps},
        current_step="clean",
        progress=30,
        log="step 1/4: load_datasets\nstep 2/4: clean\n",
    )

    state = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()
    page = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()

    assert state["step_text"] == "step 2 of 4: clean"
    assert (state["step"], state["steps"], state["progress"], state["done"]) == (2, 4, 30, False)
    assert state["log"] == run.log
    assert "step 2 of 4: clean" in page
    assert '<progress max="100" value="30">' in page
    assert 'data-field="log"' in page


@pytest.mark.django_db
def test_a_finished_run_page_names_fail_groups_and_rounds_metrics(admin_user_client):
    from training.models import TrainingRun

    run = TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED,
        pipeline={"steps": [{"step": "clean"}]},
        progress=100,
        metrics={"group_9830946": {"model_name": "group_9830946-v1", "pr_auc": 0.41234567891,
                                   "recall": 0.8123456789}},
        skipped={"group_137": 3},
    )

    page = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    state = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()

    assert "Electrical" in page and "External floor (3)" in page
    assert "0.412" in page and "81.2%" in page and "0.41234" not in page
    assert state["done"] is True and state["step_text"] == "all 2 steps done"
