"""What a version carries for monitoring: the stored drift reference, its ranking of the
columns, the months of its test scores and the performance reference rebuilt from them."""

import gzip

import numpy as np
import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from crossline.exceptions import ArtifactTampered
from mlmodels import drift
from mlmodels.archive import delete_model_version
from mlmodels.models import DriftReference, VersionReference
from mlmodels.references import (
    decode_months,
    encode_months,
    get_performance_reference,
    get_version_reference,
    load_drift_reference,
    ranked_reference,
    record_test_months,
    record_version_reference,
    store_drift_reference,
)
from mlmodels.services import set_threshold_policy
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def small_reference() -> dict:
    rng = np.random.default_rng(3)
    features = pd.DataFrame(
        {
            "value|A#2|1": rng.normal(25.0, 1.0, 600),
            "value|B#1|1": rng.normal(12.0, 0.5, 600),
            "last_nok|A#2": rng.integers(0, 2, 600).astype(float),
        }
    )
    months = ["2024-01"] * 300 + ["2024-02"] * 300
    return drift.build_reference(features, months)


def test_a_reference_is_stored_once_per_run_and_read_back_as_stored():
    reference = small_reference()

    stored = store_drift_reference(reference=reference, feature_fingerprint="f" * 64)

    assert stored.columns == 3 and stored.vehicles == 600
    assert stored.months == {"2024-01": 300, "2024-02": 300}
    assert load_drift_reference(stored) == reference


def test_a_run_stores_its_reference_once():
    reference = small_reference()
    run = TrainingRun.objects.create(pipeline_name="default", pipeline={})
    first = store_drift_reference(reference=reference, feature_fingerprint="a" * 64,
                                  training_run=run)
    again = store_drift_reference(reference=reference, feature_fingerprint="a" * 64,
                                  training_run=run)

    assert again.pk == first.pk
    assert DriftReference.objects.filter(training_run=run).count() == 1


def test_a_reference_whose_file_changed_is_refused():
    stored = store_drift_reference(reference=small_reference(), feature_fingerprint="b" * 64)
    default_storage.delete(stored.file)
    default_storage.save(stored.file, ContentFile(gzip.compress(b'{"columns": {}}')))

    with pytest.raises(ArtifactTampered):
        load_drift_reference(stored)


def test_a_version_ranks_the_shared_columns_by_its_own_importances(register):
    reference = small_reference()
    stored = store_drift_reference(reference=reference, feature_fingerprint="c" * 64)
    fail, group = register("fail"), register("group_2")

    record_version_reference(version=fail, reference=stored,
                             importances=[["value|B#1|1", 0.7], ["value|A#2|1", 0.2]])
    record_version_reference(version=group, reference=stored,
                             importances=[["|value|A#2|1|", 0.5]])

    fail_view = ranked_reference(reference, get_version_reference(fail))
    group_view = ranked_reference(reference, get_version_reference(group))
    assert fail_view["ranking"][:2] == ["value|B#1|1", "value|A#2|1"]
    # A deviation |x| counts for x.
    assert group_view["ranking"][0] == "value|A#2|1"
    assert group_view["importance"] == {"value|A#2|1": 0.5}
    assert fail_view["columns"] is reference["columns"]


def test_a_version_without_importances_given_takes_those_its_diagnostics_keep(register):
    stored = store_drift_reference(reference=small_reference(), feature_fingerprint="d" * 64)
    version = register()
    version.diagnostics = {"importance": {"features": [["value|A#2|1", 0.4]]}}
    version.save()

    linked = record_version_reference(version=version, reference=stored)

    assert linked.importances == [["value|A#2|1", 0.4]]


def test_months_are_kept_as_runs_in_the_scores_order():
    months = ["2024-05"] * 3 + ["2024-06"] * 2 + ["2024-05"]

    runs = encode_months(months)

    assert runs == [["2024-05", 3], ["2024-06", 2], ["2024-05", 1]]
    assert decode_months(runs) == months


def test_the_performance_reference_follows_the_version_threshold(register):
    rng = np.random.default_rng(11)
    scores = rng.random(1200)
    y = (rng.random(1200) < scores).astype(int)
    version = register(test_scores={"y_true": y.tolist(), "scores": scores.tolist()},
                       heldout={"y_true": y.tolist(), "scores": scores.tolist()})
    months = [f"2024-{1 + i // 200:02d}" for i in range(1200)]
    assert record_test_months(version=version, months=months)

    before = get_performance_reference(version)
    set_threshold_policy(type_model="fail", policy="capacity", value=0.1)
    version.refresh_from_db()
    after = get_performance_reference(version)

    assert [c["label"] for c in before["chunks"]] == sorted(set(months))
    assert before["threshold"] != after["threshold"] == version.threshold
    assert after["band"]["flagged_share"]["mean"] == pytest.approx(0.1, abs=0.02)
    assert before["band"]["flagged_share"]["mean"] > 0.2


def test_months_that_do_not_match_the_scores_are_refused(register):
    version = register(test_scores={"y_true": [0, 1, 1], "scores": [0.1, 0.8, 0.6]})

    with pytest.raises(ValueError, match="3 test scores"):
        record_test_months(version=version, months=["2024-01"] * 2)


def test_deleting_the_last_version_of_a_reference_deletes_the_reference(register):
    stored = store_drift_reference(reference=small_reference(), feature_fingerprint="e" * 64)
    first, second = register(), register()
    record_version_reference(version=first, reference=stored, importances=[])
    record_version_reference(version=second, reference=stored, importances=[])

    delete_model_version(version=first)
    assert DriftReference.objects.filter(pk=stored.pk).exists()
    delete_model_version(version=second)

    assert not DriftReference.objects.filter(pk=stored.pk).exists()
    assert not VersionReference.objects.exists()
    assert not default_storage.exists(stored.file)
