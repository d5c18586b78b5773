"""The prediction services: active versions, stored results, history, feedback, errors."""

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from crossline.exceptions import ArtifactTampered, NoActiveModel, NotFound
from mlmodels.services import activate_model_version
from plant.models import FailGroup
from predictions import feedback, services
from predictions.models import Prediction, PredictionHistory
from tests.predictions.conftest import KINDS, write_results_csv
from training.pipeline.estimators import positive_scores

pytestmark = pytest.mark.django_db


def test_prediction_uses_the_active_models_and_their_thresholds(
    active_models, stored_knrs, trained
):
    # One KNR at a time (the one-vehicle path), then all together (the bulk path).
    one_by_one = [services.predict_knrs(knrs=[knr])[0] for knr in stored_knrs]
    together = services.predict_knrs(knrs=stored_knrs)

    # Independently: the rows training built for these KNRs (not prediction's path) through
    # scikit-learn's own predict_proba on the fitted steps, and the trained thresholds.
    rows = trained.features.loc[stored_knrs]
    proba = {
        kind: trained.models[kind]["pipeline"][1:].predict_proba(rows)[:, 1] for kind in KINDS
    }
    flagged = {
        kind: proba[kind] >= trained.models[kind]["threshold"] for kind in KINDS
    }
    # The thresholds matter here: a kind flags some of these vehicles and not others.
    assert any(0 < flags.sum() < len(stored_knrs) for flags in flagged.values()), flagged
    assert [p.knr for p in together] == stored_knrs
    for i, prediction in [*enumerate(one_by_one), *enumerate(together)]:
        assert prediction.p_fail == pytest.approx(proba["fail"][i], abs=1e-6)
        assert prediction.probabilities == pytest.approx(
            {"2": proba["group_2"][i], "4": proba["group_4"][i]}, abs=1e-6
        )
        assert prediction.predicted_fail == flagged["fail"][i]
        assert prediction.predicted_fail_codes == [
            code for code in (2, 4) if flagged[f"group_{code}"][i]
        ]
        assert prediction.model_versions == {
            "fail": "fail-v1", "group_2": "group_2-v1", "group_4": "group_4-v1"
        }


def test_one_knr_and_a_batch_give_scikit_learns_probabilities_and_the_same_reasons(
    active_models, stored_knrs, trained, monkeypatch
):
    from mlmodels.services import get_active_models
    from plant.selectors import get_results_frame
    from training.pipeline.estimators import CompiledTrees, predict_positive

    # A batch larger than the compiled trees serve by default: prediction's batches ask for
    # them at any size, so both paths must agree with scikit-learn's own.
    monkeypatch.setattr(CompiledTrees, "MAX_ROWS", 2)
    models = get_active_models()
    every = get_results_frame(stored_knrs)
    for kind in KINDS:
        pipeline = models[kind].pipeline
        expected = trained.models[kind]["pipeline"][1:].predict_proba(
            trained.features.loc[stored_knrs]
        )[:, 1]
        batch = predict_positive(pipeline, every, any_size=True)
        one = [predict_positive(pipeline, get_results_frame([k])).iloc[0] for k in stored_knrs]
        assert list(batch.index) == stored_knrs
        np.testing.assert_allclose(batch.to_numpy(), expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(one, expected, rtol=1e-12, atol=0)

    # As stored: each KNR predicted alone, then all in one batch (with their reasons).
    alone = {knr: services.predict_knrs(knrs=[knr])[0] for knr in stored_knrs}
    together = services.predict_stored_knrs(stored_knrs, models=models)
    flagged = [p for p in together if p.predicted_fail]
    assert flagged and all(p.explanation for p in flagged)
    for prediction in together:
        first = alone[prediction.knr]
        assert (prediction.p_fail, prediction.probabilities, prediction.predicted_fail) == (
            first.p_fail, first.probabilities, first.predicted_fail
        )
        assert [r["text"] for r in prediction.explanation] == [
            r["text"] for r in first.explanation
        ]
        assert [r["risk_drop"] for r in prediction.explanation] == pytest.approx(
            [r["risk_drop"] for r in first.explanation], abs=1e-4
        )


def _training_p_fail(trained, knrs: list[str]) -> dict[str, float]:
    scores = positive_scores(trained.models["fail"]["pipeline"][1:], trained.features.loc[knrs])
    return dict(zip(knrs, scores, strict=True))


def test_rows_stored_twice_by_overlapping_exports_predict_as_training_saw_them(
    active_models, stored_knrs, trained, tmp_path
):
    from plant.imports import import_dataset
    from plant.selectors import get_results_frame

    # A second export repeats two stored KNRs' rows (a week exported twice).
    twice = stored_knrs[:2]
    path = write_results_csv(trained, [*twice, trained.knrs[20]], tmp_path / "again.csv")
    import_dataset(path=path, original_name="again.csv", kind="results")

    predictions = {p.knr: p.p_fail for p in services.predict_knrs(knrs=stored_knrs[:3])}

    expected = _training_p_fail(trained, stored_knrs[:3])
    assert predictions == pytest.approx(expected, abs=1e-6)
    # The feature rows themselves, from the stored rows (each of the two KNRs stored twice).
    stored = get_results_frame(stored_knrs[:3])
    assert (stored["KNR"] == twice[0]).sum() == 2 * (trained.results["KNR"] == twice[0]).sum()
    builder = trained.models["fail"]["pipeline"][0]
    pd.testing.assert_frame_equal(
        builder.transform(stored), trained.features.loc[stored_knrs[:3]]
    )


def test_an_uploaded_file_with_repeated_rows_predicts_as_training_saw_them(
    active_models, trained, tmp_path
):
    knrs = trained.knrs[30:33]
    path = write_results_csv(trained, knrs, tmp_path / "upload.csv")
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([rows, rows[rows["KNR"] == knrs[0]]]).to_csv(path, index=False)

    predictions = services.predict_results_file(path, filename="upload.csv")

    assert {p.knr: p.p_fail for p in predictions} == pytest.approx(
        _training_p_fail(trained, knrs), abs=1e-6
    )


def test_switching_the_active_version_changes_the_prediction(active_models, stored_knrs):
    before = {p.knr: p.p_fail for p in services.predict_knrs(knrs=stored_knrs)}
    activate_model_version(version=active_models["fail_inverted"])

    after = {p.knr: p for p in services.predict_knrs(knrs=stored_knrs)}

    assert {p.model_versions["fail"] for p in after.values()} == {"fail-v2"}
    # The inverted model ranks the vehicles the other way round.
    order_before = sorted(before, key=before.get)
    order_after = sorted(after, key=lambda knr: after[knr].p_fail)
    assert order_after != order_before
    assert any(abs(after[k].p_fail - before[k]) > 0.05 for k in stored_knrs)


def test_predicting_again_replaces_the_prediction_and_keeps_the_old_one_in_history(
    active_models, stored_knrs
):
    knr = stored_knrs[1]
    [first] = services.predict_knrs(knrs=[knr])
    activate_model_version(version=active_models["fail_inverted"])
    [second] = services.predict_knrs(knrs=[knr])

    assert Prediction.objects.filter(knr=knr).count() == 1
    assert Prediction.objects.get(knr=knr).model_versions["fail"] == "fail-v2"
    [history] = PredictionHistory.objects.filter(knr=knr)
    assert history.model_versions["fail"] == "fail-v1"
    assert history.p_fail == pytest.approx(first.p_fail)
    assert history.p_fail != pytest.approx(second.p_fail)


def test_a_knr_without_stored_results_is_not_found_and_nothing_is_stored(
    active_models, stored_knrs
):
    with pytest.raises(NotFound, match="2024-9999999"):
        services.predict_knrs(knrs=[stored_knrs[0], "2024-9999999"])
    assert Prediction.objects.count() == 0


def test_without_an_active_model_prediction_is_refused(db, stored_knrs):
    with pytest.raises(NoActiveModel):
        services.predict_knrs(knrs=[stored_knrs[0]])
    assert Prediction.objects.count() == 0


def test_a_tampered_artifact_is_refused_and_nothing_is_stored(active_models, stored_knrs):
    version = active_models["group_2"]
    default_storage.delete(version.artifact_path)
    default_storage.save(version.artifact_path, _content(b"not the model crossline wrote"))

    with pytest.raises(ArtifactTampered):
        services.predict_knrs(knrs=[stored_knrs[0]])
    assert Prediction.objects.count() == 0


def _content(payload: bytes):
    from django.core.files.base import ContentFile

    return ContentFile(payload)


def test_a_vehicle_with_tests_the_model_never_saw_is_still_predicted(active_models, trained):
    rows = trained.results[trained.results["KNR"] == trained.knrs[0]].copy()
    unseen = rows.head(3).assign(NAME="SECTION_NEW_99999999", VALUE=123.0)
    # One known test missing entirely, three rows of a test the model never saw.
    known = rows[rows["NAME"] != rows["NAME"].iloc[-1]]
    frame = pd.concat([known, unseen], ignore_index=True)

    [row] = services.predict_frame(frame)

    assert row["knr"] == trained.knrs[0]
    assert 0.0 < row["p_fail"] < 1.0
    assert set(row["probabilities"]) == {"2", "4"}
    assert all(0.0 < p < 1.0 for p in row["probabilities"].values())


def test_indicated_tests_follow_the_predicted_groups(db):
    doors = FailGroup.objects.get(code=4)
    assert doors.name == "Doors"
    assert services.indicated_tests_for([4]) == doors.inspections
    both = services.indicated_tests_for([2, 4])
    central = FailGroup.objects.get(code=2).inspections
    assert both == central + doors.inspections
    assert services.indicated_tests_for([]) == []


def test_the_eight_fail_groups_have_default_indicated_tests(db):
    codes = set(FailGroup.objects.values_list("code", flat=True))
    assert codes == {2, 4, 5, 1, 9830946, 133, 140, 137}
    assert all(group.inspections for group in FailGroup.objects.all())


def test_stored_predictions_list_the_inspections_of_their_groups(active_models, stored_knrs):
    FailGroup.objects.filter(code=2).update(inspections=["Seal check", "Roof leak"])
    FailGroup.objects.filter(code=4).update(inspections=["Door water test", "Roof leak"])
    expected = {
        (): [],
        (2,): ["Seal check", "Roof leak"],
        (4,): ["Door water test", "Roof leak"],
        (2, 4): ["Seal check", "Roof leak", "Door water test"],  # in group order, no repeats
    }

    predictions = services.predict_knrs(knrs=stored_knrs)

    for p in predictions:
        assert p.indicated_tests == expected[tuple(p.predicted_fail_codes)]
        stored = Prediction.objects.get(knr=p.knr)
        assert stored.indicated_tests == expected[tuple(stored.predicted_fail_codes)]
    assert any(p.predicted_fail_codes for p in predictions), "the fixture should predict a group"


def test_feedback_fills_real_fail_codes_from_imported_defects(
    active_models, stored_knrs, trained, tmp_path: Path
):
    from plant.imports import import_dataset

    services.predict_knrs(knrs=stored_knrs)
    path = tmp_path / "defects.csv"
    path.write_text(
        "KNR,S_GROUP_ID,DATA\n"
        f"{stored_knrs[0]},2,2024-05-20 21:31:51.992\n"
        f"{stored_knrs[0]},9830946.0,2024-05-20 21:40:00\n"
        f"{stored_knrs[1]},4,2024-05-21 08:00:00\n"
    )
    import_dataset(path=path, original_name="defects.csv", kind="defects")
    # The defects import itself fills the feedback.
    assert Prediction.objects.get(knr=stored_knrs[0]).real_fail_codes == [2, 9830946]

    updated = feedback.record_feedback(knrs=[stored_knrs[0], stored_knrs[1]])

    assert updated == 2
    assert Prediction.objects.get(knr=stored_knrs[0]).real_fail_codes == [2, 9830946]
    assert Prediction.objects.get(knr=stored_knrs[1]).real_fail_codes == [4]
    assert Prediction.objects.get(knr=stored_knrs[2]).real_fail_codes is None


@pytest.mark.parametrize("unit", ["ms", "ns"])
def test_a_vehicles_production_time_is_its_last_test_and_none_without_any(unit):
    results = pd.DataFrame(
        {
            "KNR": ["2024-0000002", "2024-0000001", "2024-0000002", "2024-0000003"],
            "DATA": pd.to_datetime(
                ["2024-05-02 10:00", "2024-05-01 08:00", "2024-05-03 09:30", None]
            ).as_unit(unit),
        }
    )
    results.loc[len(results)] = ["2024-0000001", pd.NaT]

    produced = services.produced_at(results)

    assert list(produced) == ["2024-0000002", "2024-0000001", "2024-0000003"]
    local = {k: v and timezone.localtime(v).replace(tzinfo=None) for k, v in produced.items()}
    assert local == {
        "2024-0000002": datetime(2024, 5, 3, 9, 30),
        "2024-0000001": datetime(2024, 5, 1, 8, 0),
        "2024-0000003": None,
    }



# --- the active models cached between requests --------------------------------------------------


def test_a_warm_prediction_reads_the_registry_lightly_and_marks_the_models_used_once_a_minute(
    active_models, stored_knrs
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mlmodels.models import ModelVersion

    services.predict_knrs(knrs=stored_knrs[:1])
    used = dict(ModelVersion.objects.values_list("model_name", "last_used"))
    with CaptureQueriesContext(connection) as queries:
        services.predict_knrs(knrs=stored_knrs[1:2])

    registry = [q["sql"] for q in queries.captured_queries if "mlmodels_" in q["sql"]]
    assert len([q for q in registry if "mlmodels_activemodel" in q]) == 1
    # The versions' current fields are read, never their whole rows, and not marked used again
    # within the minute.
    assert not [q for q in registry if "diagnostics" in q or "update" in q.lower()], registry
    assert used["fail-v1"] is not None and used["fail-v2"] is None
    assert dict(ModelVersion.objects.values_list("model_name", "last_used")) == used


def test_a_pointer_threshold_or_gate_changed_elsewhere_is_seen_by_the_next_prediction(
    active_models, stored_knrs
):
    from django.db.models import F

    from mlmodels.models import ActiveModel, ModelVersion

    first = services.predict_knrs(knrs=stored_knrs)
    assert {p.model_versions["fail"] for p in first} == {"fail-v1"}
    assert not all(2 in p.predicted_fail_codes for p in first)

    # Written as another process would: straight to the database, this process's cache intact.
    ModelVersion.objects.filter(pk=active_models["group_2"].pk).update(threshold=0.0)
    ActiveModel.objects.filter(type_model="fail").update(
        version=active_models["fail_inverted"], generation=F("generation") + 1
    )
    second = services.predict_knrs(knrs=stored_knrs)

    assert {p.model_versions["fail"] for p in second} == {"fail-v2"}
    assert all(2 in p.predicted_fail_codes for p in second)
    assert [p.p_fail for p in second] != [p.p_fail for p in first]

    ModelVersion.objects.filter(pk=active_models["group_4"].pk).update(eligible=False)
    third = services.predict_knrs(knrs=stored_knrs[:1])[0]
    assert "group_4" not in third.model_versions and 4 in third.no_model_groups

    ActiveModel.objects.filter(type_model="group_4").update(override=True)
    fourth = services.predict_knrs(knrs=stored_knrs[:1])[0]
    assert fourth.model_versions["group_4"] == "group_4-v1"
