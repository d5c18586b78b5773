"""Per-kind threshold policies: chosen on held-out scores, recomputed without retraining."""

import numpy as np
import pytest

from crossline.exceptions import InvalidInput
from mlmodels.models import ModelVersion, ThresholdPolicy, VersionScores
from mlmodels.services import set_threshold_policy
from mlmodels.thresholds import choose_threshold, metrics_at_threshold

pytestmark = pytest.mark.django_db

RNG = np.random.default_rng(11)
# 400 held-out and 300 test vehicles, a fifth positive, positives scored higher on average.
HELD_Y = (RNG.random(400) < 0.2).astype(int)
HELD_S = np.clip(0.25 + 0.35 * HELD_Y + RNG.normal(0, 0.18, 400), 0, 1)
TEST_Y = (RNG.random(300) < 0.2).astype(int)
TEST_S = np.clip(0.25 + 0.35 * TEST_Y + RNG.normal(0, 0.18, 300), 0, 1)
HELDOUT = {"y_true": HELD_Y.tolist(), "scores": HELD_S.tolist()}
TEST = {"y_true": TEST_Y.tolist(), "scores": TEST_S.tolist()}


def test_registration_chooses_the_threshold_by_f2_on_held_out_scores(register):
    version = register("group_2", threshold=0.01, heldout=HELDOUT, test_scores=TEST)

    expected = choose_threshold(HELD_Y, HELD_S, policy="f2")
    at = metrics_at_threshold(TEST_Y, TEST_S, expected)
    assert version.threshold == expected != 0.01
    assert version.threshold_policy.startswith("F2")
    assert version.recall == pytest.approx(at["recall"])
    assert version.precision == pytest.approx(at["precision"])
    assert version.flagged_share == pytest.approx(at["flagged_share"])
    assert version.confusion_matrix == at["confusion_matrix"]
    assert VersionScores.objects.get(version=version).test["n"] == 300


def test_changing_the_policy_recomputes_every_version_of_the_kind_only(register, staff_user):
    first = register("group_2", heldout=HELDOUT, test_scores=TEST)
    second = register("group_2", heldout=HELDOUT, test_scores=TEST)
    plain = register("group_2", threshold=0.33)  # registered without scores: left as it is
    other = register("group_4", heldout=HELDOUT, test_scores=TEST)
    versions_before = ModelVersion.objects.count()

    set_threshold_policy(type_model="group_2", policy="capacity", value=0.05, user=staff_user)

    expected = choose_threshold(HELD_Y, HELD_S, policy="capacity", value=0.05)
    for version in (first, second):
        version.refresh_from_db()
        assert version.threshold == expected
        assert version.flagged_share == pytest.approx(
            metrics_at_threshold(TEST_Y, TEST_S, expected)["flagged_share"]
        )
        assert version.threshold_policy == "inspection capacity 5.0% of vehicles"
    plain.refresh_from_db()
    other.refresh_from_db()
    assert plain.threshold == 0.33
    assert other.threshold == choose_threshold(HELD_Y, HELD_S, policy="f2")
    assert ModelVersion.objects.count() == versions_before, "no retraining, no new version"
    stored = ThresholdPolicy.objects.get(type_model="group_2")
    assert (stored.policy, stored.value, stored.updated_by_id) == ("capacity", 0.05, staff_user.pk)

    set_threshold_policy(type_model="group_2", policy="recall", value=0.9)
    first.refresh_from_db()
    assert first.threshold == choose_threshold(HELD_Y, HELD_S, policy="recall", value=0.9)
    assert ThresholdPolicy.objects.count() == 1


def test_a_new_version_follows_the_kind_s_policy(register):
    register("group_2", heldout=HELDOUT, test_scores=TEST)
    set_threshold_policy(type_model="group_2", policy="recall", value=0.5)

    later = register("group_2", heldout=HELDOUT, test_scores=TEST)

    assert later.threshold == choose_threshold(HELD_Y, HELD_S, policy="recall", value=0.5)


def test_bad_policies_are_refused_and_nothing_changes(register):
    version = register("group_2", heldout=HELDOUT, test_scores=TEST)

    with pytest.raises(InvalidInput, match="capacity policy needs a value"):
        set_threshold_policy(type_model="group_2", policy="capacity")
    with pytest.raises(InvalidInput, match="Unknown threshold policy"):
        set_threshold_policy(type_model="group_2", policy="top10")

    assert not ThresholdPolicy.objects.exists()
    assert ModelVersion.objects.get(pk=version.pk).threshold == version.threshold


def test_the_api_lists_and_sets_policies(lead_api, plain_api, register):
    register("fail")
    version = register("group_2", heldout=HELDOUT, test_scores=TEST)

    listed = plain_api.get("/api/threshold-policies/").json()
    forbidden = plain_api.put(
        "/api/threshold-policies/group_2/", {"policy": "capacity", "value": 0.1}, format="json"
    )
    bad = lead_api.put(
        "/api/threshold-policies/group_2/", {"policy": "capacity", "value": 2}, format="json"
    )
    done = lead_api.put(
        "/api/threshold-policies/group_2/", {"policy": "capacity", "value": 0.1}, format="json"
    )

    assert [(p["type_model"], p["policy"], p["value"]) for p in listed] == [
        ("fail", "f2", None), ("group_2", "f2", None)
    ]
    assert forbidden.status_code == 403
    assert bad.status_code == 400
    assert done.status_code == 200, done.content
    assert done.json()["updated_by"] == lead_api.user.username
    version.refresh_from_db()
    assert version.threshold == choose_threshold(HELD_Y, HELD_S, policy="capacity", value=0.1)
    detail = lead_api.get(f"/api/models/{version.pk}/").json()
    assert detail["flagged_share"] == pytest.approx(version.flagged_share)
    assert detail["threshold_policy"] == "inspection capacity 10.0% of vehicles"
    assert lead_api.get("/api/threshold-policies/group_9/").status_code == 404


def test_the_admin_edits_a_policy_and_recomputes_the_thresholds(admin_user_client, register):
    version = register("group_2", heldout=HELDOUT, test_scores=TEST)

    response = admin_user_client.post(
        "/admin/mlmodels/thresholdpolicy/add/",
        {"type_model": "group_2", "policy": "recall", "value": "0.75"},
        follow=True,
    )
    refused = admin_user_client.post(
        "/admin/mlmodels/thresholdpolicy/add/",
        {"type_model": "group_2", "policy": "f2", "value": "0.5"},
    )

    assert response.status_code == 200
    assert "Thresholds of the group_2 versions recomputed" in response.content.decode()
    version.refresh_from_db()
    assert version.threshold == choose_threshold(HELD_Y, HELD_S, policy="recall", value=0.75)
    assert refused.status_code == 200  # the form again, with the error
    assert "The f2 policy takes no value." in refused.content.decode()
    assert ThresholdPolicy.objects.get().policy == "recall"


@pytest.mark.django_db
def test_a_policy_written_without_its_name_is_a_400_naming_the_field(lead_api):
    empty = lead_api.put("/api/threshold-policies/fail/", {}, format="json")
    listed = lead_api.put("/api/threshold-policies/fail/", [[], []], format="json")

    assert empty.status_code == 400, empty.content
    assert "policy" in empty.json()["errors"]
    assert listed.status_code == 400, listed.content
