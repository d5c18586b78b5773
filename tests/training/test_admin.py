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
