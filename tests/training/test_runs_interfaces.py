from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from plant.models import Dataset
from training.models import PipelineDefinition, TrainingRun
from training.runs import close_run

pytestmark = pytest.mark.django_db

RESULTS_CSV = (
    ",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
    "0,2024-0000001,012001,1,10,kg        ,1.0,'0,95',2024-05-16 13:21:03\n"
    "1,2024-0000002,012001,1,13,kg        ,1.0,0.99,2024-05-16 13:25:03.000\n"
)
DEFECTS_CSV = (
    "KNR,MODELO,COR,MOTOR,ESTACAO,USUARIO,HALLE,FALHA,S_GROUP_ID,DATA\n"
    "2024-0000002,T-CROSS,0Q0Q,DKL,ZP8,insp1,H1,Riscado,2,2024-05-20 21:31:51.992\n"
)


def upload(name: str, text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_starting_a_run_needs_a_staff_user(plain_api, client):
    assert plain_api.post("/api/train/").status_code == 403
    assert plain_api.post("/api/train/retrain/").status_code == 403
    assert client.post("/api/train/").status_code == 401
    assert TrainingRun.objects.count() == 0


def import_both(staff_api) -> None:
    for kind, name, text in (("results", "r.csv", RESULTS_CSV), ("defects", "f.csv", DEFECTS_CSV)):
        response = staff_api.post(
            "/api/datasets/", {"kind": kind, "file": upload(name, text)}, format="multipart"
        )
        assert response.status_code == 201, response.content


def test_train_queues_a_run_on_the_imported_exports(staff_api):
    import_both(staff_api)
    response = staff_api.post("/api/train/", {"pipeline": "default"})
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get()
    assert response.json()["status"] == "queued"
    assert response.json()["kind"] == "train"
    assert response["Location"].endswith(f"/api/training-runs/{run.pk}/")
    # Exactly str: WSGI servers (wsgiref's check) refuse str subclasses such as DRF's Hyperlink.
    assert type(response["Location"]) is str
    assert run.requested_by == staff_api.user
    assert sorted(Dataset.objects.values_list("kind", flat=True)) == ["defects", "results"]
    assert str(staff_api.get(response["Location"]).json()["id"]) == str(run.pk)


def test_train_takes_json_only_and_no_files(staff_api):
    import_both(staff_api)
    form = staff_api.post(
        "/api/train/", {"df_resultados": upload("r.csv", RESULTS_CSV)}, format="multipart"
    )
    assert form.status_code == 415
    assert form.json()["code"] == "unsupported_media_type"
    unknown = staff_api.post("/api/train/", {"pipeline": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "No pipeline definition named 'nope'."
    malformed = staff_api.post("/api/train/", {"pipeline": "no/such"})
    assert malformed.status_code == 400 and list(malformed.json()["errors"]) == ["pipeline"]
    assert TrainingRun.objects.count() == 0


def test_retrain_queues_a_retrain_run(staff_api):
    import_both(staff_api)
    staff_api.post("/api/train/")
    # The train run ends first: an identical run is refused while one is queued.
    first = TrainingRun.objects.get()
    close_run(first, TrainingRun.Status.SUCCEEDED, from_status=TrainingRun.Status.QUEUED)
    response = staff_api.post("/api/train/retrain/", {"pipeline": "default"})
    assert response.status_code == 202
    assert response.json()["kind"] == "retrain"
    assert TrainingRun.objects.filter(kind="retrain").count() == 1


def test_train_without_data_answers_409_and_queues_nothing(staff_api):
    response = staff_api.post("/api/train/")
    assert response.status_code == 409
    assert "no test results" in response.json()["detail"]
    assert TrainingRun.objects.count() == 0


def test_training_runs_are_listed_with_their_state(staff_api, plain_api):
    TrainingRun.objects.create(status=TrainingRun.Status.FAILED, failed_step="clean", error="x")
    listed = plain_api.get("/api/training-runs/?status=failed").json()["results"]
    assert [(r["status"], r["failed_step"]) for r in listed] == [("failed", "clean")]
    assert plain_api.get("/api/training-runs/?status=succeeded").json()["results"] == []


def test_pipeline_definitions_are_listed_from_the_shipped_files(plain_api):
    names = [p["name"] for p in plain_api.get("/api/pipelines/").json()["results"]]
    assert "default" in names


def test_a_pipeline_definition_shows_its_steps_in_their_declared_shape(plain_api):
    definition = plain_api.get("/api/pipelines/default/").json()["definition"]
    steps = {step["step"]: step for step in definition["steps"]}
    assert steps["load_datasets"]["outputs"] == ["results", "defects"]
    assert steps["build_labels"]["inputs"] == {"defects": "defects", "vehicles": "production_time"}
    assert definition["params"]["test_share"] == 0.2


def test_a_queued_run_has_no_comparison_yet(plain_api):
    run = TrainingRun.objects.create()
    body = plain_api.get(f"/api/training-runs/{run.pk}/").json()
    assert (body["comparison"], body["metrics"], body["skipped"]) == (None, {}, {})


def test_a_run_shows_its_metrics_and_comparison_typed_even_when_recorded_long_ago(plain_api):
    from training.pipeline.steps import score_predictions

    scored = score_predictions([0, 1, 1, 0, 1], [0.1, 0.8, 0.4, 0.3, 0.9], 0.5)
    # Recorded by an earlier release: no gate verdict, policy or share flagged in its metrics.
    legacy = {key: scored[key] for key in (
        "accuracy", "precision", "recall", "f1_score", "roc_auc", "pr_auc", "mcc",
        "confusion_matrix", "support", "threshold",
    )}
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED,
        dataset_ids=[3, "5"],
        metrics={"fail": {**legacy, "model_name": "fail-v2"}},
        skipped={"group_137": 4},
        comparison={
            "test_set": {"knrs": 5, "first_knr": "2024-0000001", "last_knr": "2024-0000005"},
            "metric": "pr_auc",
            "kinds": {
                "fail": {
                    "new_model": "fail-v2",
                    "new_model_metrics": {**scored, "model_name": "fail-v2"},
                    "last_model": "fail-v1",
                    "last_model_metrics": scored,
                    "differences": {"pr_auc": 0.0},
                    "message": "fail-v2 is as good as the active fail-v1 on pr_auc (+0.0000).",
                },
                "group_2": {
                    "new_model": "group_2-v1",
                    "new_model_metrics": scored,
                    "last_model": None,
                    "last_model_metrics": None,
                    "differences": None,
                    "message": "No active group_2 model to compare with.",
                },
            },
        },
    )

    body = plain_api.get(f"/api/training-runs/{run.pk}/").json()

    assert body["dataset_ids"] == ["3", "5"], "primary keys as strings, as everywhere"
    fail = body["metrics"]["fail"]
    assert (fail["eligible"], fail["threshold_policy"], fail["flagged_share"]) == (None,) * 3
    assert fail["confusion_matrix"] == [[2, 0], [1, 2]]
    assert fail["support"] == {"positives": 3, "negatives": 2}
    assert body["skipped"] == {"group_137": 4}
    kinds = body["comparison"]["kinds"]
    assert kinds["fail"]["new_model_metrics"]["brier"] == pytest.approx(scored["brier"])
    assert kinds["fail"]["last_model_metrics"]["model_name"] is None
    assert kinds["group_2"]["last_model_metrics"] is None
    assert kinds["group_2"]["differences"] is None
    assert body["comparison"]["test_set"]["knrs"] == 5


def test_admin_train_button_queues_a_run(admin_user_client):
    admin_user_client.post(
        "/api/datasets/", {"kind": "results", "file": upload("r.csv", RESULTS_CSV)}
    )
    admin_user_client.post(
        "/api/datasets/", {"kind": "defects", "file": upload("f.csv", DEFECTS_CSV)}
    )
    page = admin_user_client.get("/admin/training/trainingrun/")
    assert b'value="retrain"' in page.content
    response = admin_user_client.post(
        "/admin/training/trainingrun/train/", {"kind": "train", "pipeline": "default"}, follow=True
    )
    assert TrainingRun.objects.filter(kind="train", status="queued").count() == 1
    assert b"queued" in response.content


def test_admin_retrain_action_queues_a_retrain(admin_user_client):
    admin_user_client.post(
        "/api/datasets/", {"kind": "results", "file": upload("r.csv", RESULTS_CSV)}
    )
    admin_user_client.post(
        "/api/datasets/", {"kind": "defects", "file": upload("f.csv", DEFECTS_CSV)}
    )
    old = TrainingRun.objects.create(status=TrainingRun.Status.SUCCEEDED)
    admin_user_client.post(
        "/admin/training/trainingrun/",
        {"action": "retrain", "_selected_action": [str(old.pk)]},
    )
    assert TrainingRun.objects.filter(kind="retrain", status="queued").count() == 1


def test_admin_refuses_a_definition_with_an_unknown_step(admin_user_client):
    response = admin_user_client.post(
        "/admin/training/pipelinedefinition/add/",
        {
            "name": "mine",
            "description": "",
            "definition": '{"name": "mine", "steps": [{"step": "os_system", "inputs": '
            '["results_files"], "outputs": ["x"]}]}',
        },
    )
    assert response.status_code == 200
    assert b"os_system" in response.content
    assert not PipelineDefinition.objects.filter(name="mine").exists()


def test_train_command_without_data_exits_with_an_error():
    with pytest.raises(CommandError, match="no test results"):
        call_command("train", stdout=StringIO())
