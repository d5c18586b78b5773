"""Runs that extreme values cannot stop, and each kind's outcome: a kind that fails leaves the
others registered, and the run lists it with its error (model, admin, API, `train`)."""

from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from mlmodels.models import ModelVersion
from mlmodels.services import load_pipeline
from plant.models import Dataset
from plant.selectors import get_results_frame
from tests.training.test_runs import demo_files  # noqa: F401
from training import registration
from training.models import TrainingRun
from training.pipeline import fitting
from training.pipeline.estimators import predict_positive

pytestmark = pytest.mark.django_db

# VALUE cells of a dirty export: what the importer reads as missing, and what it keeps.
EXTREME_CELLS = ("NaN", "inf", "-inf", "1e308", "-1e308", "1e309", "1e-308")


@pytest.fixture
def small_plant(settings):
    """300 KNRs: fewer positives than a plant's, so a lower minimum and gate."""
    settings.CROSSLINE_MIN_POSITIVES = 25
    settings.CROSSLINE_GATE_MIN_POSITIVES = 5
    settings.CROSSLINE_GATE_MIN_LIFT = 1.0


def import_demo(files: dict) -> None:
    call_command(
        "import_data", "--results", str(files["results"]), "--defects", str(files["defects"]),
        stdout=StringIO(), stderr=StringIO(),
    )


def write_extreme_values(results: Path, target: Path) -> list[str]:
    """A results export retesting two screw sections of every tenth vehicle, a minute after
    its last test, with the extreme cells in turn; the KNRs it covers."""
    rows = pd.read_csv(results, dtype=str, index_col=0)
    rows["when"] = pd.to_datetime(rows["DATA"].str.strip(), format="mixed")
    last = rows.groupby("KNR")["when"].max()
    tests = rows[rows["VALUE"].str.strip().str.match(r"^-?\d")].drop_duplicates(["NAME", "ID"])
    knrs = list(last.index[::10])
    extreme = []
    for i, knr in enumerate(knrs):
        for j, test in enumerate(tests.head(2).itertuples()):
            extreme.append({
                "KNR": knr, "NAME": test.NAME, "ID": test.ID, "STATUS": "10", "UNIT": test.UNIT,
                "VALUE_ID": test.VALUE_ID, "VALUE": EXTREME_CELLS[(i + j) % len(EXTREME_CELLS)],
                "DATA": f"{last[knr] + pd.Timedelta(minutes=1 + j):%Y-%m-%d %H:%M:%S}",
            })
    pd.DataFrame(extreme).to_csv(target)
    return knrs


def train(*args: str) -> tuple[TrainingRun, str]:
    out = StringIO()
    call_command("train", "--wait", *args, stdout=out, stderr=StringIO())
    return TrainingRun.objects.latest("created_at"), out.getvalue()


def test_training_succeeds_after_importing_extreme_values(demo_files, tmp_path, small_plant):  # noqa: F811
    import_demo(demo_files)
    knrs = write_extreme_values(demo_files["results"], tmp_path / "extreme.csv")
    call_command("import_data", "--results", str(tmp_path / "extreme.csv"), stdout=StringIO())
    extreme = Dataset.objects.get(original_name="extreme.csv")
    assert extreme.status == Dataset.Status.READY
    stored = get_results_frame(knrs)
    values = pd.to_numeric(stored["VALUE"], errors="coerce")
    assert {1e308, -1e308, 1e-308} <= set(values), "the importer keeps the finite extremes"

    run, output = train()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    trained = [o for o in run.outcomes if o["status"] == "trained"]
    assert {o["kind"] for o in trained} == set(run.metrics) and "fail" in run.metrics
    assert not [o for o in run.outcomes if o["status"] == "failed"]
    skipped = {o["kind"]: o["positives"] for o in run.outcomes if o["status"] == "skipped"}
    assert skipped == run.skipped and skipped, "rare groups have fewer than 25 positives"
    assert run.outcomes[0]["kind"] == "fail"
    assert all(o["candidate_errors"] == [] for o in run.outcomes)
    assert "  fail               trained: fail-v1, " in output
    # Every version, the compiled one-KNR paths and the batch path, scores those vehicles.
    for version in ModelVersion.objects.filter(training_run=run):
        pipeline = load_pipeline(version)
        batch = predict_positive(pipeline, stored)
        assert np.isfinite(batch).all() and batch.between(0, 1).all(), version.model_name
        one = predict_positive(pipeline, stored[stored["KNR"] == knrs[3]])
        assert one.iloc[0] == pytest.approx(batch.loc[knrs[3]], rel=1e-9), version.model_name


def fail_fits_of(monkeypatch, kind: str) -> None:
    original = fitting.fit_estimator

    def fit(template, X, y, validation=None):
        if y.name == kind:
            raise MemoryError(f"no room to fit {kind}")
        return original(template, X, y, validation)

    monkeypatch.setattr(fitting, "fit_estimator", fit)


def test_a_kind_whose_fit_fails_leaves_the_other_kinds_registered(
    demo_files, small_plant, monkeypatch, staff_api, admin_user_client  # noqa: F811
):
    import_demo(demo_files)
    fail_fits_of(monkeypatch, "group_2")

    run, output = train()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    registered = set(ModelVersion.objects.filter(training_run=run).values_list(
        "type_model", flat=True
    ))
    assert "fail" in registered and "group_2" not in registered
    outcome = next(o for o in run.outcomes if o["kind"] == "group_2")
    assert outcome["status"] == "failed" and outcome["step"] == "train_models"
    # Too few judged positives on this small plant: out-of-fold scores, the first candidate
    # that fits serving; a candidate kept for the averages, and the averages, are not tried.
    assert outcome["error"] == (
        "FitFailed: every candidate failed (hist_gradient_boosting, sparse_logistic (C 0.02), "
        "relaxed_logistic, pairwise_logistic, plain_gradient_boosting)"
    )
    assert outcome["candidate_errors"] == [
        {"candidate": "hist_gradient_boosting", "error": "MemoryError: no room to fit group_2"},
        {"candidate": "sparse_logistic (C 0.02)", "error": "MemoryError: no room to fit group_2"},
        {"candidate": "relaxed_logistic", "error": "MemoryError: no room to fit group_2"},
        {"candidate": "pairwise_logistic", "error": "MemoryError: no room to fit group_2"},
        {"candidate": "plain_gradient_boosting", "error": "MemoryError: no room to fit group_2"},
    ]
    assert {o["kind"] for o in run.outcomes if o["status"] == "trained"} == registered
    # The log names each kind in the team's words beside its version or its failure.
    fail = ModelVersion.objects.get(training_run=run, type_model="fail")
    assert f"registered {fail.model_name} (Any defect), " in run.log
    assert "; failed: group_2 (2 Central part): FitFailed" in run.log
    assert "  group_2            failed in step 'train_models': FitFailed" in output
    assert "candidate sparse_logistic (C 0.02) failed: MemoryError: no room" in output
    shown = staff_api.get(f"/api/training-runs/{run.pk}/").json()
    assert next(o for o in shown["outcomes"] if o["kind"] == "group_2") == outcome
    page = admin_user_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert 'data-kind="group_2" data-status="failed"' in page
    assert "MemoryError: no room to fit group_2" in page


def test_a_kind_that_cannot_be_explained_leaves_the_others_registered(
    demo_files, small_plant, monkeypatch  # noqa: F811
):
    import_demo(demo_files)
    explain = registration.explain_version

    def refuse_fail(entry, test_set, kind):
        if kind == "fail":
            raise FloatingPointError("the calibration curve overflowed")
        return explain(entry, test_set, kind)

    monkeypatch.setattr(registration, "explain_version", refuse_fail)

    run, output = train()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert ModelVersion.objects.filter(training_run=run).exclude(type_model="fail").exists()
    assert not ModelVersion.objects.filter(type_model="fail").exists()
    outcome = next(o for o in run.outcomes if o["kind"] == "fail")
    assert (outcome["status"], outcome["step"], outcome["error"]) == (
        "failed", "save", "FloatingPointError: the calibration curve overflowed"
    )
    assert "fail" not in run.metrics and "fail" not in run.comparison["kinds"]


def test_an_active_version_that_cannot_score_the_test_set_does_not_stop_a_retrain(
    demo_files, small_plant, monkeypatch  # noqa: F811
):
    import_demo(demo_files)
    first, _ = train()
    assert first.status == TrainingRun.Status.SUCCEEDED
    original = registration.predict_positive

    def not_a_number(pipeline, rows, **kwargs):
        scores = original(pipeline, rows, **kwargs)
        return scores * np.nan

    monkeypatch.setattr(registration, "predict_positive", not_a_number)

    retrain, output = train()

    assert retrain.status == TrainingRun.Status.SUCCEEDED, retrain.error
    entry = retrain.comparison["kinds"]["fail"]
    assert entry["new_model"] == "fail-v2" and entry["last_model"] == "fail-v1"
    assert entry["message"].startswith("The active fail-v1 could not be scored on this test set")
    assert "are not finite probabilities" in entry["message"]
    assert entry["differences"] is None


def test_each_version_keeps_the_plain_approach_beside_it_and_what_it_was_judged_on(
    demo_files, small_plant, plain_api  # noqa: F811
):
    from mlmodels.thresholds import decode_scores

    import_demo(demo_files)

    run, output = train()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    fail = ModelVersion.objects.get(training_run=run, type_model="fail")
    assert 0 < fail.plain_pr_auc <= 1 and 0 < fail.judged_plain_pr_auc <= 1
    heldout, _ = decode_scores(fail.scores.heldout)
    test, _ = decode_scores(fail.scores.test)
    # Two blocks of the training period and the test set: every judged vehicle counts.
    assert fail.judged_folds == 3
    assert fail.judged_vehicles == len(heldout) + len(test) == len(heldout) + fail.n_test
    assert fail.judged_positives == heldout.sum() + fail.test_positives
    assert f"{fail.judged_positives} positives in 3 time folds" in fail.eligibility
    assert run.metrics["fail"]["plain_pr_auc"] == fail.plain_pr_auc
    line = next(
        line for line in output.splitlines() if line.startswith("  fail ") and "PR-AUC" in line
    )
    assert f"(plain approach {fail.plain_pr_auc:.3f})" in line
    assert f"judged on 3 time folds: {fail.judged_positives} positives" in line
    shown = plain_api.get(f"/api/training-runs/{run.pk}/").json()["metrics"]["fail"]
    assert shown["plain_pr_auc"] == fail.plain_pr_auc
    assert shown["judged"] == {
        "folds": 3, "vehicles": fail.judged_vehicles, "positives": fail.judged_positives,
        "pr_auc": fail.judged_pr_auc, "plain_pr_auc": fail.judged_plain_pr_auc,
    }
