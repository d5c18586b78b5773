"""Imports that never block: large uploads imported by a worker, and killed imports reaped."""

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django_q.models import OrmQ

from crossline.exceptions import InvalidUpload
from crossline.scratch import scratch_root
from plant import files, imports, reaper, tasks
from plant.demo import generate_demo_data
from plant.models import Dataset, Vehicle, VehicleRecord
from tests.support.storage import stored_files
from training.tasks import reap_stale_work

KNRS = 40

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return generate_demo_data(knrs=KNRS, out_dir=tmp_path_factory.mktemp("demo"), seed=41)


@pytest.fixture
def background(settings) -> None:
    """Every upload is large: stored and queued for a worker."""
    settings.CROSSLINE_IMPORT_INLINE_BYTES = 0


def post_file(api, path: Path, kind: str):
    with path.open("rb") as handle:
        return api.post("/api/datasets/", {"kind": kind, "file": handle}, format="multipart")


def import_folders(dataset: Dataset) -> list[Path]:
    return list(scratch_root().glob(f"{files.IMPORT_TEMP_PREFIX}{dataset.pk}-*"))


def test_a_large_upload_answers_202_with_the_queued_dataset_and_a_worker_imports_it(
    staff_api, demo, background
):
    response = post_file(staff_api, demo["results"], "results")

    assert response.status_code == 202, response.content
    body = response.json()
    dataset = Dataset.objects.get()
    assert body["status"] == "queued" and body["progress"] == 0 and body["rows_read"] == 0
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/datasets/{dataset.pk}/")
    # Stored and queued; nothing imported yet.
    assert stored_files() == [dataset.source_file]
    assert VehicleRecord.objects.count() == Vehicle.objects.count() == 0
    [queued] = OrmQ.objects.all()
    assert queued.task["func"] == "plant.tasks.run_queued_import"
    assert queued.task["args"] == (str(dataset.pk),)
    assert dataset.task_id == queued.task["id"]

    assert tasks.run_queued_import(str(dataset.pk)) == "ready"

    shown = staff_api.get(response["Location"]).json()
    assert shown["status"] == "ready" and shown["progress"] == 100
    assert shown["rows_read"] > 0 and shown["knr_count"] == KNRS
    assert Vehicle.objects.count() == KNRS
    dataset.refresh_from_db()
    assert stored_files() == [dataset.file]  # the upload is gone, the Parquet copy stays
    assert dataset.source_file == ""
    # Run twice (a task delivered again), it does nothing.
    records = VehicleRecord.objects.count()
    assert tasks.run_queued_import(str(dataset.pk)) == "not queued"
    assert VehicleRecord.objects.count() == records
    assert Dataset.objects.get().status == "ready"


def test_an_import_queued_under_training_s_old_task_path_still_runs(staff_api, demo, background):
    # An installation upgraded with imports waiting in the queue: their broker rows name the
    # task by the path it had before plant held the imports. django-q2's worker finds a task
    # function by its dotted path with pydoc.locate.
    import pydoc

    response = post_file(staff_api, demo["results"], "results")
    dataset = Dataset.objects.get()
    old = pydoc.locate("training.tasks.run_queued_import")

    assert response.status_code == 202 and old is not None
    assert old(str(dataset.pk)) == "ready"
    assert Vehicle.objects.count() == KNRS


def test_a_small_upload_is_still_imported_within_the_request(staff_api, demo, settings):
    settings.CROSSLINE_IMPORT_INLINE_BYTES = demo["results"].stat().st_size

    response = post_file(staff_api, demo["results"], "results")

    assert response.status_code == 201
    assert response.json()["status"] == "ready"
    assert OrmQ.objects.count() == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"KNR,DATA\n2024-2000001,2024-05-16 13:21:03\n", "missing required columns"),
        (b"\x00\x01binary", "binary"),
    ],
    ids=["missing-columns", "binary"],
)
def test_a_large_upload_the_reader_refuses_is_400_before_anything_is_stored(
    staff_api, tmp_path, background, content, message
):
    path = tmp_path / "results.csv"
    path.write_bytes(content)

    response = post_file(staff_api, path, "results")

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Dataset.objects.count() == 0
    assert stored_files() == [] and OrmQ.objects.count() == 0


def test_a_large_upload_of_a_file_already_imported_is_409_and_queues_nothing(
    staff_api, demo, background
):
    imports.import_dataset(path=demo["defects"], original_name="defects.csv", kind="defects")

    response = post_file(staff_api, demo["defects"], "defects")

    assert response.status_code == 409
    assert "was already imported as dataset" in response.json()["detail"]
    assert Dataset.objects.count() == 1 and OrmQ.objects.count() == 0


def test_the_api_shows_progress_and_rows_read_while_an_import_runs(staff_api, demo):
    dataset_id = {}
    seen = []

    def look(rows_read: int, expected: int | None) -> None:
        if not dataset_id:
            dataset_id["pk"] = Dataset.objects.get().pk
        body = staff_api.get(f"/api/datasets/{dataset_id['pk']}/").json()
        seen.append((body["status"], body["progress"], body["rows_read"], rows_read))

    imports.import_dataset(path=demo["results"], original_name="results.csv.gz",
                           kind="results", on_progress=look, chunk_rows=300)

    assert len(seen) > 3
    assert all(status == "importing" for status, *_ in seen)
    shown = [rows_shown for _, _, rows_shown, _ in seen]
    # The row count on the dataset follows the import (the reader may be a chunk ahead).
    assert shown == sorted(shown) and shown[-1] > shown[0] > 0
    assert all(s <= rows for s, (*_, rows) in zip(shown, seen, strict=True))
    progress = [percent for _, percent, _, _ in seen]
    assert progress == sorted(progress) and all(0 < percent < 100 for percent in progress)
    assert staff_api.get(f"/api/datasets/{dataset_id['pk']}/").json()["progress"] == 100


def test_a_queued_import_whose_rows_are_all_refused_fails_with_the_reason_and_keeps_nothing(
    staff_api, tmp_path, background
):
    path = tmp_path / "results.csv"
    path.write_text("KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
                    "not-a-knr,012001,1,10,Nm,1,2.5,2024-05-16 13:21:03\n")
    response = post_file(staff_api, path, "results")
    assert response.status_code == 202, response.content
    dataset_id = response.json()["id"]

    with pytest.raises(InvalidUpload, match="^results.csv: none of its 1 rows was accepted"):
        tasks.run_queued_import(str(dataset_id))

    shown = staff_api.get(f"/api/datasets/{dataset_id}/").json()
    assert shown["status"] == "failed"
    assert "none of its 1 rows was accepted" in shown["error"]
    assert stored_files() == []
    assert VehicleRecord.objects.count() == 0
    # The same file is not "already imported": it is refused again for its rows.
    again = post_file(staff_api, path, "results")
    assert again.status_code == 202
    assert Dataset.objects.count() == 1 and Dataset.objects.get().status == "queued"


def test_the_admin_queues_a_large_upload_and_its_page_shows_the_progress(
    admin_user_client, demo, background
):
    with demo["results"].open("rb") as handle:
        response = admin_user_client.post(
            "/admin/plant/dataset/add/", {"kind": "results", "file": handle}, follow=True
        )

    dataset = Dataset.objects.get()
    assert response.redirect_chain[-1][0] == f"/admin/plant/dataset/{dataset.pk}/change/"
    page = response.content.decode()
    assert "Queued results.csv.gz for import" in page
    assert "Queued" in page and VehicleRecord.objects.count() == 0
    tasks.run_queued_import(str(dataset.pk))
    page = admin_user_client.get(f"/admin/plant/dataset/{dataset.pk}/change/").content
    assert "Ready" in page.decode() and Vehicle.objects.count() == KNRS


# --- the reaper -------------------------------------------------------------------------------


def half_written(demo, settings) -> Dataset:
    """An import killed half-way: records, a stored Parquet file and upload, a temporary folder,
    and a heartbeat older than CROSSLINE_IMPORT_STALE_SECONDS."""
    dataset = imports.import_dataset(
        path=demo["results"], original_name="results.csv.gz", kind="results"
    )
    source = default_storage.save(
        files.source_name(dataset), ContentFile(demo["results"].read_bytes())
    )
    prefix = f"{files.IMPORT_TEMP_PREFIX}{dataset.pk}-"
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))
    (folder / "data.parquet").write_bytes(b"half a file")
    stale = timezone.now() - timedelta(seconds=settings.CROSSLINE_IMPORT_STALE_SECONDS + 5)
    Dataset.objects.filter(pk=dataset.pk).update(
        status=Dataset.Status.IMPORTING, progress=40, heartbeat_at=stale, source_file=source
    )
    dataset.refresh_from_db()
    assert VehicleRecord.objects.filter(dataset=dataset).exists()
    assert sorted(stored_files()) == sorted([dataset.file, source])
    return dataset


def test_the_reaper_removes_what_a_silent_import_wrote_and_keeps_the_reason(demo, settings):
    dataset = half_written(demo, settings)

    assert "1 imports reaped" in reap_stale_work()

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.FAILED
    assert "no heartbeat for" in dataset.error and "Import the file again" in dataset.error
    assert dataset.file == "" and dataset.progress == 0
    assert VehicleRecord.objects.count() == 0 and Vehicle.objects.count() == 0
    assert stored_files() == []
    assert import_folders(dataset) == []
    assert reaper.reap_stale_imports() == 0


def test_the_reaper_drops_the_task_of_the_import_it_fails(demo, settings):
    from django_q.tasks import async_task

    from crossline.taskqueue import list_queued_tasks
    from tests.training.test_run_reliability import take

    dataset = half_written(demo, settings)
    task_id = async_task("crossline.tasks.ping")
    Dataset.objects.filter(pk=dataset.pk).update(task_id=task_id)
    take(task_id, taken_ago=timedelta(seconds=settings.CROSSLINE_RUN_STALE_SECONDS + 5))
    busy = async_task("crossline.tasks.ping")
    take(busy, taken_ago=timedelta(seconds=1))

    assert reaper.reap_stale_imports() == 1

    assert [t.task_id for t in list_queued_tasks()] == [busy]


def test_a_clean_up_cut_short_is_finished_by_the_next_pass(demo, settings, monkeypatch):
    dataset = half_written(demo, settings)

    def storage_down(name, dataset):
        raise ConnectionError("storage unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(files, "delete_stored", storage_down)
        assert reaper.reap_stale_imports() == 1
    assert Dataset.objects.get(pk=dataset.pk).status == Dataset.Status.FAILED
    assert stored_files() != []  # cut short

    assert reaper.reap_stale_imports() == 0

    assert stored_files() == [] and VehicleRecord.objects.count() == 0
    assert Dataset.objects.get(pk=dataset.pk).heartbeat_at is None
    assert import_folders(dataset) == []


def test_a_reaped_file_can_be_imported_again_at_once(demo, settings):
    dataset = half_written(demo, settings)
    reaper.reap_stale_imports()

    again = imports.import_dataset(
        path=demo["results"], original_name="results.csv.gz", kind="results"
    )

    assert again.status == Dataset.Status.READY and again.sha256 == dataset.sha256
    assert list(Dataset.objects.values_list("pk", flat=True)) == [again.pk]
    assert Vehicle.objects.count() == KNRS


def test_the_reaper_leaves_live_and_queued_imports_alone(demo, settings):
    live = half_written(demo, settings)
    Dataset.objects.filter(pk=live.pk).update(heartbeat_at=timezone.now())
    old = timezone.now() - timedelta(seconds=settings.CROSSLINE_IMPORT_STALE_SECONDS + 5)
    # Waiting in the task queue behind other work: not a sign of death.
    queued = Dataset.objects.create(kind="defects", original_name="d.csv", size_bytes=1,
                                    sha256="1" * 64, status=Dataset.Status.QUEUED,
                                    task_id="a-task", heartbeat_at=old)
    # Queued by a request that died before handing the task over: dead.
    orphan = Dataset.objects.create(kind="defects", original_name="o.csv", size_bytes=1,
                                    sha256="2" * 64, status=Dataset.Status.QUEUED,
                                    heartbeat_at=old)

    assert reaper.reap_stale_imports() == 1

    statuses = dict(Dataset.objects.values_list("pk", "status"))
    assert statuses == {live.pk: "importing", queued.pk: "queued", orphan.pk: "failed"}
    assert VehicleRecord.objects.filter(dataset=live).exists()


def test_an_import_reaped_while_it_runs_never_becomes_ready(demo, settings, monkeypatch):
    write_records = imports._create_records

    def reaped_meanwhile(dataset, chunk, touched):
        write_records(dataset, chunk, touched)
        stale = timezone.now() - timedelta(seconds=settings.CROSSLINE_IMPORT_STALE_SECONDS + 5)
        Dataset.objects.filter(pk=dataset.pk).update(heartbeat_at=stale)
        assert reaper.reap_stale_imports() == 1

    monkeypatch.setattr(imports, "_create_records", reaped_meanwhile)
    settings.CROSSLINE_IMPORT_INLINE_BYTES = 0
    dataset = imports.queue_import(path=demo["results"], original_name="results.csv.gz",
                                   kind="results")

    # Stopped at its next write (the chunk's progress, a compare-and-set on `importing`), not
    # by whatever the reaper's removal of its folder would have broken later.
    with pytest.raises(imports.ImportAbandoned, match="the import was failed meanwhile"):
        imports.run_queued_import(dataset.pk)

    dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.FAILED and "no heartbeat" in dataset.error
    assert VehicleRecord.objects.count() == 0 and stored_files() == []
    assert import_folders(dataset) == []


def test_the_last_write_of_an_import_failed_meanwhile_is_refused(demo, monkeypatch):
    refuse_duplicate_content = imports._refuse_duplicate_content

    def failed_meanwhile(dataset, fingerprint):
        # After the last chunk, before the file is stored and the import marked ready: the
        # reaper's compare-and-set, as if the heartbeat had been late once.
        Dataset.objects.filter(pk=dataset.pk).update(status=Dataset.Status.FAILED, error="dead")
        refuse_duplicate_content(dataset, fingerprint)

    monkeypatch.setattr(imports, "_refuse_duplicate_content", failed_meanwhile)
    dataset = imports.queue_import(path=demo["results"], original_name="results.csv.gz",
                                   kind="results")

    with pytest.raises(imports.ImportAbandoned):
        imports.run_queued_import(dataset.pk)

    dataset.refresh_from_db()
    assert (dataset.status, dataset.error) == (Dataset.Status.FAILED, "dead")
    assert VehicleRecord.objects.count() == 0 and stored_files() == []
    assert Vehicle.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_import_beats_while_it_works(demo, settings, monkeypatch):
    settings.CROSSLINE_HEARTBEAT_SECONDS = 1
    write_records = imports._create_records
    beats = []

    def slow(dataset, chunk, touched):
        write_records(dataset, chunk, touched)
        time.sleep(1.5)
        beats.append(Dataset.objects.get(pk=dataset.pk).heartbeat_at)

    monkeypatch.setattr(imports, "_create_records", slow)

    imports.import_dataset(path=demo["defects"], original_name="defects.csv", kind="defects",
                           chunk_rows=20)

    assert len(beats) >= 2
    assert beats == sorted(beats) and beats[-1] > beats[0]
