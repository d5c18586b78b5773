"""The admin of training runs: their progress, steps and metrics by fail-group name."""

import pytest


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


@pytest.mark.django_db
def test_a_run_page_names_its_kind_and_keeps_its_status_with_the_bar(admin_user_client):
    from training.models import TrainingRun

    run = TrainingRun.objects.create(
        kind=TrainingRun.Kind.RETRAIN, status=TrainingRun.Status.QUEUED,
        pipeline={"steps": [{"step": "clean"}]},
    )
    queued = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/change/")
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING, progress=64, current_step="clean"
    )
    state = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/progress/").json()

    page = queued.content.decode()
    # The heading is the run, not a status that goes stale while the bar moves on.
    assert f"<h2>Retrain run {run.pk}</h2>" in page and "(queued)" not in page
    assert f"Retrain run {run.pk}: progress" in page
    # The status field is the one the page's script keeps equal to the bar's.
    assert '<span data-progress-field="status">Queued</span>' in page
    assert (state["title"], state["status_label"], state["progress"]) == (
        f"Retrain run {run.pk}", "Running", 64
    )
