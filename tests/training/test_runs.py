import json

import pytest
from django.core.files.storage import default_storage

from crossline.exceptions import InvalidPipeline, NothingToTrain
from mlmodels.models import Activation, ActiveModel, ModelVersion
from mlmodels.selectors import list_active_versions
from plant.imports import import_dataset
from training import registration, runs
from training.models import PipelineDefinition, TrainingRun
from training.pipeline import registry
from training.pipeline.definition import PIPELINES_DIR
from training.pipeline.runner import StepFailed
from training.runs import (
    execute_training_run,
    reap_stale_runs,
    start_training_run,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    from plant.demo import generate_demo_data

    return generate_demo_data(
        knrs=300, out_dir=tmp_path_factory.mktemp("demo"), seed=3, tests_per_knr=20
    )


@pytest.fixture
def imported(demo_files):
    for kind in ("results", "defects"):
        import_dataset(path=demo_files[kind], original_name=demo_files[kind].name, kind=kind)


@pytest.fixture
def fast_pipeline(settings):
    """The default pipeline with a quick estimator, as the definition chosen for these runs."""
    settings.CROSSLINE_MIN_POSITIVES = 25
    # 300 KNRs leave a test set of 60: too small for the production gate (30 positives).
    settings.CROSSLINE_GATE_MIN_POSITIVES = 5
    settings.CROSSLINE_GATE_MIN_LIFT = 1.0
    definition = json.loads((PIPELINES_DIR / "default.json").read_text())
    definition["name"] = "quick"
    definition["params"]["estimator"] = "logistic_regression"
    PipelineDefinition.objects.create(name="quick", definition=definition)


def stored_artifacts() -> list[str]:
    try:
        kinds, _ = default_storage.listdir("artifacts")
    except FileNotFoundError:
        return []
    return [name for kind in kinds for name in default_storage.listdir(f"artifacts/{kind}")[1]]


def train(**kwargs) -> TrainingRun:
    run = start_training_run(enqueue=False, pipeline_name="quick", **kwargs)
    return execute_training_run(str(run.pk))


def test_a_training_run_registers_and_activates_the_first_versions(imported, fast_pipeline):
    run = train()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.progress == 100
    kinds = set(run.metrics)
    assert "fail" in kinds
    versions = list(ModelVersion.objects.filter(training_run=run))
    assert {v.type_model for v in versions} == kinds
    eligible = {v.type_model for v in versions if v.eligible}
    assert "fail" in eligible
    assert set(list_active_versions()) == eligible
    fail = ModelVersion.objects.get(type_model="fail")
    assert fail.model_name == "fail-v1"
    assert 0 < fail.pr_auc <= 1 and 0 <= fail.threshold <= 1
    assert sum(map(sum, fail.confusion_matrix)) == fail.n_test
    assert len(stored_artifacts()) == len(kinds)
    # One numbering for the pipeline's eight steps and the save step (not "8/8" then "11/11").
    steps = [line.split(" step ", 1)[1] for line in run.log.splitlines() if " step " in line
             and ": " in line.split(" step ", 1)[1]]
    assert steps == [
        "1/9: load_datasets", "2/9: clean", "3/9: build_features", "4/9: build_drift_reference",
        "5/9: build_labels", "6/9: split_by_time", "7/9: train_models", "8/9: evaluate",
        "9/9: save",
    ]
    # The version keeps what its page shows: its curves and most important features.
    assert fail.diagnostics["pr_curve"] and fail.diagnostics["calibration"]
    assert fail.diagnostics["importance"].get("features"), fail.diagnostics["importance"]
    assert fail.diagnostics["pr_auc"] == pytest.approx(fail.pr_auc)


def test_a_run_keeps_one_drift_reference_for_all_its_versions(imported, fast_pipeline):
    from mlmodels.models import DriftReference, VersionScores
    from mlmodels.references import (
        decode_months,
        get_performance_reference,
        get_version_reference,
        load_drift_reference,
    )

    run = train()

    stored = DriftReference.objects.get(training_run=run)
    reference = load_drift_reference(stored)
    versions = list(ModelVersion.objects.filter(training_run=run))
    assert stored.vehicles == 300 == reference["vehicles"]
    assert sum(stored.months.values()) == 300 and len(stored.months) == 12
    assert {get_version_reference(v).reference_id for v in versions} == {stored.pk}
    fail = next(v for v in versions if v.type_model == "fail")
    link = get_version_reference(fail)
    # The version's own importances, as many as the drift alarm considers at most.
    top = fail.diagnostics["importance"]["features"]
    assert link.importances == [[name, float(value)] for name, value in top]
    assert 0 < len(link.importances) <= 50
    scores = VersionScores.objects.get(version=fail)
    months = decode_months(scores.test_months)
    assert len(months) == fail.n_test
    # The test set is the latest vehicles: its months are the last ones, in time order.
    assert months == sorted(months) and months[-1] == max(stored.months)
    assert get_performance_reference(fail)["threshold"] == fail.threshold
    assert "drift reference of 300 vehicles" in run.log


def test_versions_below_the_activation_gate_are_registered_but_never_activated(
    imported, fast_pipeline, settings
):
    settings.CROSSLINE_GATE_MIN_POSITIVES = 30
    settings.CROSSLINE_GATE_MIN_LIFT = 1.5
    settings.CROSSLINE_AUTO_PROMOTE = True
    settings.CROSSLINE_PROMOTE_MARGIN = -1.0
    run = train()
    retrain = train(kind=TrainingRun.Kind.RETRAIN)

    versions = list(ModelVersion.objects.all())
    below = [v for v in versions if not v.eligible]
    assert below, "60 test KNRs cannot hold 30 positives of every fail group"
    active = list_active_versions()
    # Some kinds cleared the gate and were activated: else the checks below would hold vacuously.
    assert len(active) >= 1
    assert all(v.eligible for v in active.values())
    assert not {v.pk for v in below} & {v.pk for v in active.values()}
    group = next(v for v in below if v.type_model != "fail")
    assert group.eligibility.startswith(f"only {group.test_positives} positives")
    assert "below the activation gate: " in run.log and group.model_name in (run.log + retrain.log)


def test_kinds_below_the_positive_threshold_are_skipped_not_trained(
    imported, fast_pipeline, settings
):
    settings.CROSSLINE_MIN_POSITIVES = 60
    run = train()
    assert run.skipped, "some rare fail groups must be below 60 positives in 300 KNRs"
    assert all(positives < 60 for positives in run.skipped.values())
    assert not set(run.skipped) & set(run.metrics)


def test_retraining_scores_challenger_and_active_on_the_same_test_set(imported, fast_pipeline):
    first = train()
    retrain = train(kind=TrainingRun.Kind.RETRAIN)
    entry = retrain.comparison["kinds"]["fail"]
    active = ModelVersion.objects.get(model_name="fail-v1")
    assert entry["new_model"] == "fail-v2"
    assert entry["last_model"] == "fail-v1"
    # Same data, same test set: the active version re-scored reproduces its stored metrics.
    assert entry["last_model_metrics"]["support"] == entry["new_model_metrics"]["support"]
    assert entry["last_model_metrics"]["pr_auc"] == pytest.approx(active.pr_auc)
    assert entry["differences"]["pr_auc"] == pytest.approx(
        entry["new_model_metrics"]["pr_auc"] - active.pr_auc
    )
    assert "fail-v2" in entry["message"] and "fail-v1" in entry["message"]
    # The challenger does not become active by itself.
    assert list_active_versions()["fail"].model_name == "fail-v1"
    assert first.pk != retrain.pk


def test_auto_promotion_activates_a_challenger_that_beats_the_margin(
    imported, fast_pipeline, settings
):
    train()  # logistic regression: the active versions
    challenger = json.loads((PIPELINES_DIR / "default.json").read_text())
    challenger["name"] = "boosted"
    PipelineDefinition.objects.create(name="boosted", definition=challenger)
    settings.CROSSLINE_PROMOTE_METRIC = "pr_auc"

    def retrain_boosted() -> dict[str, float]:
        run = execute_training_run(
            str(start_training_run(enqueue=False, pipeline_name="boosted",
                                   kind=TrainingRun.Kind.RETRAIN).pk)
        )
        return {kind: entry["differences"]["pr_auc"]
                for kind, entry in run.comparison["kinds"].items()}

    # A first challenger, not promoted, shows the gains; the margin is put between two of
    # them, so that both sides of it occur when the same challenger is trained again.
    settings.CROSSLINE_AUTO_PROMOTE = False
    gains = sorted(delta for delta in retrain_boosted().values() if delta > 0)
    assert len(gains) >= 2, gains
    settings.CROSSLINE_AUTO_PROMOTE = True
    settings.CROSSLINE_PROMOTE_MARGIN = margin = (gains[0] + gains[1]) / 2

    deltas = retrain_boosted()

    assert sorted(delta for delta in deltas.values() if delta > 0) == pytest.approx(gains)
    beats = {kind for kind, delta in deltas.items() if delta >= margin}
    assert beats and any(0 < delta < margin for delta in deltas.values()), deltas
    active = list_active_versions()
    for kind in deltas:
        expected = f"{kind}-v3" if kind in beats else f"{kind}-v1"
        assert active[kind].model_name == expected, (kind, deltas[kind])


def test_a_failing_step_fails_the_run_and_leaves_the_registry_as_it_was(
    imported, fast_pipeline, monkeypatch
):
    train()
    active_before = {k: v.pk for k, v in list_active_versions().items()}
    versions_before = ModelVersion.objects.count()
    artifacts_before = stored_artifacts()

    def broken(results):
        raise ValueError("the features exploded")

    monkeypatch.setitem(registry._STEPS, "build_features", broken)
    run = start_training_run(enqueue=False, pipeline_name="quick")
    with pytest.raises(StepFailed, match="^step 'build_features' failed: ValueError: the "
                       "features exploded$") as raised:
        execute_training_run(str(run.pk))
    assert isinstance(raised.value.original, ValueError)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert run.failed_step == "build_features"
    assert "the features exploded" in run.error
    assert ModelVersion.objects.count() == versions_before
    assert {k: v.pk for k, v in list_active_versions().items()} == active_before
    assert stored_artifacts() == artifacts_before


def test_a_failure_while_saving_removes_what_the_run_registered(
    imported, fast_pipeline, monkeypatch
):
    calls = []
    register = registration.register_model_version

    def fail_on_third(**kwargs):
        calls.append(kwargs["type_model"])
        if len(calls) == 3:
            raise OSError("storage full")
        return register(**kwargs)

    monkeypatch.setattr(registration, "register_model_version", fail_on_third)
    run = start_training_run(enqueue=False, pipeline_name="quick")
    with pytest.raises(OSError, match="^storage full$"):  # the save's own error, re-raised
        execute_training_run(str(run.pk))
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert run.failed_step == "save"
    assert ModelVersion.objects.count() == 0
    assert ActiveModel.objects.count() == 0
    assert stored_artifacts() == []


def test_a_run_is_executed_once_only(imported, fast_pipeline):
    run = train()
    assert execute_training_run(str(run.pk)) is None
    assert ModelVersion.objects.filter(type_model="fail").count() == 1


def test_a_run_whose_worker_died_is_failed_and_cleaned(imported, fast_pipeline):
    run = train()
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING,
        heartbeat_at=run.created_at - runs.timedelta(hours=2),
    )
    # As if it died before activating anything (activation follows success): a version that
    # was ever active is kept by the registry (tests/mlmodels/test_archive.py).
    ActiveModel.objects.all().delete()
    Activation.objects.all().delete()
    assert reap_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "worker stopped" in run.error
    assert ModelVersion.objects.filter(training_run=run).count() == 0
    assert stored_artifacts() == []


def test_training_without_data_is_refused_before_queueing():
    with pytest.raises(NothingToTrain, match="no test results"):
        start_training_run(enqueue=False)
    assert TrainingRun.objects.count() == 0


def test_an_unknown_step_in_a_stored_definition_is_refused_by_name(imported):
    PipelineDefinition.objects.create(
        name="broken",
        definition={
            "name": "broken",
            "steps": [
                {
                    "step": "load_datasets",
                    "inputs": ["results_files", "defects_files"],
                    "outputs": ["results", "defects"],
                },
                {"step": "run_shell_script", "inputs": ["results"], "outputs": ["x"]},
            ],
        },
    )
    with pytest.raises(InvalidPipeline, match="run_shell_script"):
        start_training_run(pipeline_name="broken", enqueue=False)
    assert TrainingRun.objects.count() == 0


def test_a_queued_run_executes_through_the_task_queue(imported, fast_pipeline, monkeypatch):
    from django_q.conf import Conf

    # django-q2's synchronous mode: the task runs in this process, through the same entry point.
    monkeypatch.setattr(Conf, "SYNC", True)
    run = start_training_run(pipeline_name="quick")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.task_id


@pytest.fixture
def heard():
    """The run and registry signals sent, in order, as (signal, what it carried)."""
    from mlmodels.signals import model_version_activated
    from training.signals import (
        model_version_registered,
        training_run_failed,
        training_run_succeeded,
    )

    sent: list[tuple[str, dict]] = []
    signals = {
        "registered": model_version_registered,
        "activated": model_version_activated,
        "succeeded": training_run_succeeded,
        "failed": training_run_failed,
    }
    listeners = {}
    for name, signal in signals.items():
        listeners[name] = lambda sender, name=name, **kwargs: sent.append((name, kwargs))
        signal.connect(listeners[name], weak=False)
    yield sent
    for name, signal in signals.items():
        signal.disconnect(listeners[name])


def test_a_run_announces_each_version_it_registered_then_its_success(
    imported, fast_pipeline, heard
):
    run = train()

    names = [name for name, _ in heard]
    kinds = set(run.metrics)
    eligible = {v.type_model for v in ModelVersion.objects.filter(training_run=run, eligible=True)}
    assert names == ["registered"] * len(kinds) + ["activated"] * len(eligible) + ["succeeded"]
    registered = {kw["version"].type_model: kw for name, kw in heard if name == "registered"}
    assert set(registered) == kinds
    assert registered["fail"]["run"].pk == run.pk
    assert registered["fail"]["comparison"]["message"] == "No active fail model to compare with."
    assert heard[-1][1]["run"].status == TrainingRun.Status.SUCCEEDED
    activated = [kw["activation"] for name, kw in heard if name == "activated"]
    assert {a.version.type_model for a in activated} == eligible


def test_a_failing_run_announces_its_failure_once(imported, fast_pipeline, monkeypatch, heard):
    def broken(results):
        raise ValueError("the features exploded")

    monkeypatch.setitem(registry._STEPS, "build_features", broken)
    run = start_training_run(enqueue=False, pipeline_name="quick")
    with pytest.raises(Exception, match="the features exploded"):
        execute_training_run(str(run.pk))

    assert [name for name, _ in heard] == ["failed"]
    told = heard[0][1]["run"]
    assert (told.pk, told.status, told.failed_step) == (
        run.pk, TrainingRun.Status.FAILED, "build_features"
    )


def test_a_run_the_reaper_fails_is_announced_as_failed(imported, fast_pipeline, heard):
    run = start_training_run(enqueue=False, pipeline_name="quick")
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING, heartbeat_at=run.created_at - runs.timedelta(hours=2)
    )

    assert reap_stale_runs() == 1

    assert [(name, kw["run"].pk, kw["run"].status) for name, kw in heard] == [
        ("failed", run.pk, TrainingRun.Status.FAILED)
    ]
