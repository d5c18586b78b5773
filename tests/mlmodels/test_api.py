import pytest
from django.core.files.storage import default_storage

from mlmodels.models import Activation, ActiveModel, ModelVersion
from mlmodels.services import activate_model_version

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "model_name",
    "type_model",
    "version",
    "accuracy",
    "precision",
    "recall",
    "f1_score",
    "roc_auc",
    "pr_auc",
    "plain_pr_auc",
    "mcc",
    "confusion_matrix",
    "support",
    "threshold",
    "threshold_policy",
    "flagged_share",
    "test_positives",
    "test_prevalence",
    "judged_folds",
    "judged_vehicles",
    "judged_positives",
    "judged_pr_auc",
    "judged_plain_pr_auc",
    "eligible",
    "eligibility",
    "estimator",
    "artifact_sha256",
    "training_run",
    "library_versions",
    "data",
    "last_used",
    "using",
    "archived",
    "archived_at",
    "created_at",
}


def active_id(type_model: str = "fail"):
    return ActiveModel.objects.get(type_model=type_model).version_id


def test_list_keeps_the_original_field_names_and_marks_the_active_version(plain_api, register):
    old, new = register(), register()
    activate_model_version(version=old)

    response = plain_api.get("/api/models/")

    assert response.status_code == 200
    rows = {row["model_name"]: row for row in response.json()["results"]}
    assert set(rows["fail-v1"]) == FIELDS
    assert str(rows["fail-v1"]["id"]) == str(old.pk)
    assert rows["fail-v1"]["using"] is True
    assert rows["fail-v2"]["using"] is False
    assert rows["fail-v2"]["recall"] == pytest.approx(0.74)
    assert rows["fail-v2"]["artifact_sha256"] == new.artifact_sha256
    assert rows["fail-v2"]["estimator"] == ""  # none recorded


@pytest.mark.parametrize(
    ("diagnostics", "says"),
    [
        ({"estimator": "sparse_logistic (C 0.02)"}, "sparse_logistic (C 0.02)"),
        (
            {"estimator": "hist_gradient_boosting", "combined_with": ["group_2"],
             "direct_weight": 0.0},
            "any fail group fails",
        ),
        (
            {"estimator": "hist_gradient_boosting", "combined_with": ["group_2"],
             "direct_weight": 0.25},
            "hist_gradient_boosting (weight 0.25) and any fail group fails",
        ),
    ],
)
def test_a_version_names_what_predicts(plain_api, register, diagnostics, says):
    version = register()
    version.diagnostics = diagnostics
    version.save()

    response = plain_api.get(f"/api/models/{version.pk}/")

    assert response.json()["estimator"] == says


def test_list_filters_by_type_model(plain_api, register):
    register("fail")
    register("group_4")

    response = plain_api.get("/api/models/", {"type_model": "group_4"})

    assert [row["model_name"] for row in response.json()["results"]] == ["group_4-v1"]


def test_retrieve_by_string_id_and_404_for_unknown(plain_api, register):
    version = register()

    assert plain_api.get(f"/api/models/{version.pk}/").json()["model_name"] == "fail-v1"
    assert plain_api.get("/api/models/not-an-id/").status_code == 404


def test_current_models_are_the_active_versions_and_latest_the_newest(plain_api, register):
    fail_v1 = register("fail")
    register("fail")
    group_v1 = register("group_4")
    activate_model_version(version=fail_v1)

    current = plain_api.get("/api/models/current-models/").json()
    latest = plain_api.get("/api/models/latest/").json()

    assert [(row["model_name"], row["using"]) for row in current] == [("fail-v1", True)]
    assert sorted((row["model_name"], row["using"]) for row in latest) == [
        ("fail-v2", False),
        ("group_4-v1", False),
    ]
    assert str(group_v1.pk) not in {str(row["id"]) for row in current}


def test_a_quality_lead_s_set_active_moves_the_pointer(lead_api, register):
    old, new = register(), register()
    activate_model_version(version=old)

    response = lead_api.post(f"/api/models/{new.pk}/set-active/")

    assert response.status_code == 200
    assert response.json()["using"] is True
    assert ActiveModel.objects.filter(type_model="fail").count() == 1
    assert active_id() == new.pk
    assert ActiveModel.objects.get(type_model="fail").activated_by_id == lead_api.user.pk


def test_a_reason_or_override_of_another_type_is_refused_not_converted(lead_api, register):
    old, new = register(), register()
    activate_model_version(version=old)

    for body, field in (({"reason": 0}, "reason"), ({"override": 0}, "override")):
        by_id = lead_api.post(f"/api/models/{new.pk}/set-active/", body, format="json")
        by_name = lead_api.post("/api/train/select_model/",
                                {"model_name": new.model_name, **body}, format="json")

        assert (by_id.status_code, by_name.status_code) == (400, 400)
        assert field in by_id.json()["errors"] and field in by_name.json()["errors"]
        assert active_id() == old.pk


def test_non_staff_cannot_set_active_select_or_delete(plain_api, register):
    old, new = register(), register()
    activate_model_version(version=old)

    set_active = plain_api.post(f"/api/models/{new.pk}/set-active/")
    select = plain_api.post("/api/train/select_model/", {"model_name": "fail-v2"})
    delete = plain_api.delete(f"/api/models/{new.pk}/")

    assert (set_active.status_code, select.status_code, delete.status_code) == (403, 403, 403)
    assert active_id() == old.pk
    assert ModelVersion.objects.filter(pk=new.pk).exists()


def test_anonymous_users_see_nothing(client, register):
    register()
    assert client.get("/api/models/").status_code == 401


def test_select_model_activates_by_name(lead_api, register):
    register()
    wanted = register()

    response = lead_api.post("/api/train/select_model/", {"model_name": "fail-v2"})

    assert response.status_code == 200
    assert response.json()["model_name"] == "fail-v2"
    assert active_id() == wanted.pk
    assert Activation.objects.get().activated_by_id == lead_api.user.pk


def test_select_model_answers_404_for_an_unknown_name_and_400_without_one(lead_api, register):
    register()

    assert lead_api.post("/api/train/select_model/", {"model_name": "fail-v7"}).status_code == 404
    assert lead_api.post("/api/train/select_model/", {}).status_code == 400
    assert not ActiveModel.objects.exists()


@pytest.mark.parametrize("was", ["active", "replaced"])
def test_deleting_a_version_that_ever_predicted_answers_409(lead_api, register, was):
    version, other = register(), register()
    activate_model_version(version=version)
    if was == "replaced":
        activate_model_version(version=other)

    response = lead_api.delete(f"/api/models/{version.pk}/")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "was set as active" in response.json()["detail"]
    assert "Archive it instead" in response.json()["detail"]
    assert ModelVersion.objects.filter(pk=version.pk).exists()
    assert default_storage.exists(version.artifact_path)
    assert Activation.objects.count() == (2 if was == "replaced" else 1)


def test_deleting_a_version_that_never_predicted_removes_it_and_its_artifact(lead_api, register):
    old, new = register(), register()
    activate_model_version(version=new)

    response = lead_api.delete(f"/api/models/{old.pk}/")

    assert response.status_code == 204
    assert not ModelVersion.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.artifact_path)


def test_an_archived_version_is_kept_out_of_the_list_and_found_by_id(lead_api, register):
    old, new = register(), register()
    activate_model_version(version=new)

    archived = lead_api.post(f"/api/models/{old.pk}/archive/")

    assert archived.status_code == 200, archived.content
    assert archived.json()["archived"] is True and archived.json()["archived_at"]
    assert archived.json()["detail"] == "fail-v1 is now archived."

    def listed(query: str = "") -> list[str]:
        response = lead_api.get(f"/api/models/{query}")
        assert response.status_code == 200, response.content
        return [row["model_name"] for row in response.json()["results"]]

    assert listed() == listed("?archived=false") == ["fail-v2"]
    assert listed("?archived=true") == ["fail-v1"]
    assert lead_api.get(f"/api/models/{old.pk}/").json()["archived"] is True
    assert [v["model_name"] for v in lead_api.get("/api/models/latest/").json()] == ["fail-v2"]

    refused = lead_api.post(f"/api/models/{old.pk}/set-active/")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "fail-v1 is archived: unarchive it before setting it as active."
    )
    assert active_id() == new.pk

    restored = lead_api.post(f"/api/models/{old.pk}/unarchive/")
    assert restored.status_code == 200 and restored.json()["archived"] is False
    assert listed() == ["fail-v2", "fail-v1"]
    assert lead_api.post(f"/api/models/{old.pk}/set-active/").status_code == 200
    assert active_id() == old.pk


def test_the_active_version_cannot_be_archived(lead_api, register):
    version = register()
    activate_model_version(version=version)

    response = lead_api.post(f"/api/models/{version.pk}/archive/")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "fail-v1 is the active fail model: set another version as active before archiving it."
    )
    version.refresh_from_db()
    assert version.archived_at is None


def test_activation_history_is_listed_newest_first(plain_api, staff_user, register):
    old, new = register(), register()
    activate_model_version(version=old)
    activate_model_version(version=new, user=staff_user)

    rows = plain_api.get("/api/models/activations/").json()["results"]

    assert [(r["version"], r["previous_version"]) for r in rows] == [(2, 1), (1, None)]
    assert [(r["model_name"], r["previous_model_name"]) for r in rows] == [
        ("fail-v2", "fail-v1"),
        ("fail-v1", None),
    ]
    assert rows[0]["activated_by"] == staff_user.username


# --- versions compared --------------------------------------------------------------------------


def test_compare_answers_the_numbers_of_the_admins_comparison_page(
    plain_api, admin_user_client, register
):
    from crossline import numbers

    active = register(recall=0.70, pr_auc=0.55)
    better = register(recall=0.85, pr_auc=0.60)
    worse = register(recall=0.60, pr_auc=0.50, roc_auc=None)
    activate_model_version(version=active)
    ids = f"{worse.pk},{better.model_name},{active.pk}"

    response = plain_api.get(f"/api/models/compare/?ids={ids}")
    page = admin_user_client.get(f"/admin/mlmodels/modelversion/compare/?ids={worse.pk},"
                                 f"{better.pk},{active.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type_model"] == "fail"
    versions = body["versions"]
    # The active version first (the baseline), then newest first: the page's columns.
    assert [v["model_name"] for v in versions] == ["fail-v1", "fail-v3", "fail-v2"]
    assert [c["version"].model_name for c in page.context["columns"]] == [
        v["model_name"] for v in versions
    ]
    assert [v["is_active"] for v in versions] == [True, False, False]
    assert versions[0]["id"] == str(active.pk)
    assert versions[1]["metrics"]["pr_auc"] == pytest.approx(0.50)
    assert versions[1]["metrics"]["roc_auc"] is None
    assert versions[1]["differences"]["pr_auc"] == pytest.approx(-0.05)
    assert versions[1]["differences"]["roc_auc"] is None, "undefined: no difference"
    assert versions[2]["differences"]["recall"] == pytest.approx(0.15)
    assert set(versions[0]["differences"].values()) == {None}
    assert ("pr_auc" in versions[2]["better"], "pr_auc" in versions[1]["worse"]) == (True, True)
    assert "threshold" not in versions[2]["better"] + versions[2]["worse"]
    rows = {row["label"]: row["cells"] for row in page.context["rows"]}
    for name, label in numbers.METRIC_LABELS.items():
        api_cells = [numbers.metric(name, v["metrics"][name]) for v in versions]
        assert [cell["value"] for cell in rows[label]] == api_cells, name
        assert [cell["better"] for cell in rows[label]] == [name in v["better"] for v in versions]
        assert [cell["worse"] for cell in rows[label]] == [name in v["worse"] for v in versions]


def test_compare_without_the_active_version_orders_newest_first(plain_api, register):
    register()
    second, third = register(), register()

    body = plain_api.get(f"/api/models/compare/?ids={second.pk},{third.pk}").json()

    assert [v["model_name"] for v in body["versions"]] == ["fail-v3", "fail-v2"]
    assert not any(v["is_active"] for v in body["versions"])


def test_compare_names_what_it_cannot_compare(plain_api, register):
    fail, group = register(), register(type_model="group_2")

    unknown = plain_api.get(f"/api/models/compare/?ids={fail.pk},fail-v9")
    mixed = plain_api.get(f"/api/models/compare/?ids={fail.pk},{group.model_name}")
    malformed = plain_api.get("/api/models/compare/?ids=fail-v1;drop")
    missing = plain_api.get("/api/models/compare/")

    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "No model version 'fail-v9'."
    assert mixed.status_code == 400
    assert mixed.json()["errors"] == {"ids": ["Compare versions of one kind (selected: fail, "
                                              "group_2)."]}
    assert (malformed.status_code, list(malformed.json()["errors"])) == (400, ["ids"])
    assert (missing.status_code, list(missing.json()["errors"])) == (400, ["ids"])


def test_compare_takes_a_version_named_twice_once(plain_api, register):
    version = register()

    body = plain_api.get(f"/api/models/compare/?ids={version.pk},{version.model_name}").json()

    assert [v["model_name"] for v in body["versions"]] == ["fail-v1"]


def test_a_version_gives_both_pr_aucs_and_what_the_gate_judged(plain_api, register):
    from tests.mlmodels.conftest import JUDGED

    version = register("group_9830946", pr_auc=0.412, plain_pr_auc=0.356, judged=JUDGED,
                       confusion_matrix=[[180, 8], [4, 8]])

    body = plain_api.get(f"/api/models/{version.pk}/").json()

    assert (body["pr_auc"], body["plain_pr_auc"]) == (0.412, 0.356)
    assert body["test_positives"] == 12
    assert body["judged_folds"] == 4 and body["judged_positives"] == 66
    assert body["judged_vehicles"] == 1320
    assert (body["judged_pr_auc"], body["judged_plain_pr_auc"]) == (0.31, 0.27)
    assert body["eligible"] is True
    schema = plain_api.get("/api/schema/", {"format": "json"}).json()
    fields = schema["components"]["schemas"]["ModelVersion"]["properties"]
    assert fields["plain_pr_auc"]["type"] == "number"
    assert fields["judged_folds"]["type"] == "integer"
