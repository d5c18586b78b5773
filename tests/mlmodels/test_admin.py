import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage

from mlmodels.models import Activation, ActiveModel, ModelVersion
from mlmodels.services import activate_model_version
from plant.models import FailGroup

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/mlmodels/modelversion/"


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def run_action(client, action: str, versions: list[ModelVersion]):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(v.pk) for v in versions]}
    )


def test_changelist_marks_the_one_active_version_and_charts_active_metrics(
    admin_user_client, register
):
    register(pr_auc=0.5)
    active = register(pr_auc=0.62, recall=0.8)
    activate_model_version(version=active)

    response = admin_user_client.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('alt="True"') == 1
    assert page.count('alt="False"') == 1
    assert 'data-kind="fail"' in page
    assert "width: 62%" in page
    assert "width: 80%" in page
    assert "0.620" in page and "80%" in page


def test_set_as_active_action_asks_for_confirmation_before_moving_the_pointer(
    admin_user_client, register
):
    old, new = register(), register()
    activate_model_version(version=old)

    response = run_action(admin_user_client, "set_as_active", [new])

    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}{new.pk}/activate/"
    assert ActiveModel.objects.get(type_model="fail").version_id == old.pk


def test_set_as_active_action_with_two_versions_changes_nothing(admin_user_client, register):
    old, new = register(), register()
    activate_model_version(version=old)

    response = run_action(admin_user_client, "set_as_active", [old, new])

    assert ("error", "Select exactly one version to set as active.") in messages_of(response)
    assert ActiveModel.objects.get(type_model="fail").version_id == old.pk
    assert Activation.objects.count() == 1


def test_the_confirmation_page_compares_with_the_active_version_and_asks_why(
    admin_user_client, register
):
    active = register(recall=0.70, pr_auc=0.55)
    challenger = register(recall=0.85, pr_auc=0.5)
    activate_model_version(version=active)

    response = admin_user_client.get(f"{CHANGELIST}{challenger.pk}/activate/")

    assert response.status_code == 200
    page = response.content.decode()
    assert [c["version"].model_name for c in response.context["columns"]] == ["fail-v1", "fail-v2"]
    rows = {row["label"]: row["cells"] for row in response.context["rows"]}
    assert [c["value"] for c in rows["Recall"]] == ["70.0%", "85.0%"]
    assert rows["Recall"][1]["difference"] == "+15 pts" and rows["Recall"][1]["better"]
    assert rows["PR-AUC"][1]["difference"] == "−0.0500" and rows["PR-AUC"][1]["worse"]
    assert 'name="reason"' in page
    assert '<ol class="breadcrumbs">' in page


def test_setting_as_active_needs_a_reason_and_keeps_it_in_the_history(
    admin_user_client, register
):
    active, challenger = register(), register()
    activate_model_version(version=active)
    url = f"{CHANGELIST}{challenger.pk}/activate/"

    refused = admin_user_client.post(url, {"reason": ""})
    assert refused.status_code == 200
    assert refused.context["form"].errors["reason"] == ["This field is required."]
    assert ActiveModel.objects.get(type_model="fail").version_id == active.pk

    response = admin_user_client.post(url, {"reason": "better recall on March data"})

    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}{challenger.pk}/change/"
    assert ActiveModel.objects.get(type_model="fail").version_id == challenger.pk
    latest = Activation.objects.filter(version=challenger).get()
    assert (latest.reason, latest.activated_by) == (
        "better recall on March data", admin_user_client.user
    )
    assert ("success", "fail-v2 is now the active fail model (was fail-v1).") in messages_of(
        response
    )


def test_compare_action_opens_the_comparison_of_the_selected_versions(
    admin_user_client, register
):
    versions = [register(), register(), register()]

    response = run_action(admin_user_client, "compare_selected", versions)

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{CHANGELIST}compare/?ids=")
    assert set(location.split("=", 1)[1].replace("%2C", ",").split(",")) == {
        str(v.pk) for v in versions
    }


def test_compare_action_refuses_one_version_or_two_kinds(admin_user_client, register):
    fail, group = register(), register(type_model="group_4")

    alone = run_action(admin_user_client, "compare_selected", [fail])
    mixed = run_action(admin_user_client, "compare_selected", [fail, group])

    assert ("error", "Select two or more versions to compare.") in messages_of(alone)
    assert ("error", "Compare versions of one kind (selected: fail, group_4).") in messages_of(
        mixed
    )


def test_compare_page_shows_any_versions_side_by_side_with_coloured_differences(
    admin_user_client, register
):
    active = register(recall=0.70, pr_auc=0.55)
    better = register(recall=0.85, pr_auc=0.60)
    worse = register(recall=0.60, pr_auc=0.50)
    activate_model_version(version=active)
    ids = f"{worse.pk},{better.pk},{active.pk}"

    response = admin_user_client.get(f"{CHANGELIST}compare/?ids={ids}")

    assert response.status_code == 200
    names = [c["version"].model_name for c in response.context["columns"]]
    assert names == ["fail-v1", "fail-v3", "fail-v2"]  # the active one first, then newest
    rows = {row["label"]: row["cells"] for row in response.context["rows"]}
    assert [c["value"] for c in rows["PR-AUC"]] == ["0.550", "0.500", "0.600"]
    assert [(c["better"], c["worse"]) for c in rows["PR-AUC"]] == [
        (False, False), (False, True), (True, False)
    ]
    page = response.content.decode()
    assert page.count('class="number better"') >= 1 and page.count('class="number worse"') >= 1
    assert 'data-chart="chart-compare-metrics"' in page
    assert '<ol class="breadcrumbs">' in page


def test_the_older_compare_link_compares_with_the_active_version(admin_user_client, register):
    active, challenger = register(), register()
    activate_model_version(version=active)

    response = admin_user_client.get(f"{CHANGELIST}{challenger.pk}/compare/")

    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}compare/?ids={active.pk}%2C{challenger.pk}"


DIAGNOSTICS = {
    "n": 60,
    "positives": 20,
    "pr_curve": [[0.0, 1.0], [0.5, 0.8], [1.0, 0.33]],
    "threshold_point": [0.75, 0.6],
    "calibration": [[0.1, 0.05], [0.5, 0.55], [0.9, 0.8]],
    "importance": {"method": "drop in PR-AUC when shuffled", "features": [
        ["value|SECTION_ZP8_00000001#2|2", 0.2], ["n_nok", 0.1],
    ]},
}


def test_a_version_page_explains_the_model_in_numbers_people_read(admin_user_client, register):
    register()  # another version to compare with
    version = register(pr_auc=0.6123456789012345, recall=0.8512345678901234)
    version.confusion_matrix = [[99, 98], [48, 155]]
    version.diagnostics = DIAGNOSTICS
    version.data = {"datasets": [{"id": "7", "kind": "results", "name": "march.csv",
                                  "sha256": "ab" * 32}]}
    version.save()

    response = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "0.6123456789" not in page and "0.612" in page
    assert "85.1%" in page
    assert "[[99, 98], [48, 155]]" not in page
    assert ">155 <span" in page and "(38.8%)" in page  # true positives in the 2×2 table
    for chart in ("chart-pr", "chart-calibration", "chart-importance"):
        assert f'data-chart="{chart}"' in page
    pr = response.context["pr_chart"]["data"]["datasets"]
    assert pr[1]["data"] == [{"x": 0.75, "y": 0.6}]  # the threshold, marked on the curve
    # The inputs in the team's words (no result rows stored here: no unit, so no quantity).
    importance = response.context["importance"]["chart"]["data"]["labels"]
    assert importance == ["SECTION_ZP8_00000001, screw 2, value", "NOK results"]
    assert '<a href="/admin/plant/dataset/7/change/">march.csv</a>' in page
    assert f"{CHANGELIST}{version.pk}/activate/" in page
    # Its own form, not inside the page's (a nested form is dropped by browsers).
    assert page.index('id="compare-with-form"') < page.index('id="modelversion_form"')


@pytest.mark.parametrize(
    ("weight", "says"),
    [
        (0.25, "a weighted mean of a model of failing (weight 0.25)"),
        (0.0, "This fail model is “any fail group fails”"),
        (None, "a weighted mean of a model of failing and of"),  # stored before the weight
    ],
)
def test_a_combined_fail_model_page_names_its_parts_and_weight(
    admin_user_client, register, weight, says
):
    version = register()
    FailGroup.objects.filter(code=1).update(name="Tailgate and rear")
    diagnostics = {**DIAGNOSTICS, "combined_with": ["group_1", "group_2"]}
    if weight is not None:
        diagnostics["direct_weight"] = weight
    version.diagnostics = diagnostics
    version.save()

    page = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert says in page
    # The groups by their names, the team's where it gave one.
    assert "from the models of 1 Tailgate and rear, 2 Central part trained beside it" in page


@pytest.mark.parametrize(
    ("combined", "says"),
    [
        (False, "Estimator: sparse_logistic (C 0.02), the candidate of pipeline"),
        (True, "The estimator of the model of failing: sparse_logistic (C 0.02), the"),
    ],
)
def test_a_version_page_names_the_estimator_its_held_out_vehicles_chose(
    admin_user_client, register, combined, says
):
    version = register()
    version.diagnostics = {**DIAGNOSTICS, "estimator": "sparse_logistic (C 0.02)"}
    if combined:
        version.diagnostics.update(combined_with=["group_1"], direct_weight=0.5)
    version.save()

    page = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert says in page


def test_help_texts_are_not_read_as_html(admin_user_client, register):
    version = register()

    page = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    # Django marks help texts safe: "fail or group_<code>" turned the rest of the page into code.
    assert "<code>" not in page
    # Every help text of every crossline model, since Django renders them unescaped.
    from django.apps import apps

    with_markup = [
        f"{model.__name__}.{field.name}"
        for label in ("training", "mlmodels", "predictions")
        for model in apps.get_app_config(label).get_models()
        for field in model._meta.get_fields()
        if "<" in str(getattr(field, "help_text", ""))
    ]
    assert with_markup == []


def test_a_version_pages_heading_names_its_kind_by_the_teams_name(admin_user_client, register):
    version = register(type_model="group_9830946")
    FailGroup.objects.filter(code=9830946).update(name="Wiring and battery")

    page = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    heading = f"{version.model_name} · 9830946 Wiring and battery"
    assert f"<h2>{heading}</h2>" in page and f"<title>{heading} |" in page


def test_the_changelist_names_kinds_by_fail_group(admin_user_client, register):
    register(type_model="group_9830946")

    page = admin_user_client.get(CHANGELIST).content.decode()

    assert "Electrical" in page


@pytest.mark.parametrize("was", ["active", "replaced"])
def test_the_admin_offers_no_delete_for_a_version_that_ever_predicted(
    admin_user_client, register, was
):
    version, other = register(), register()
    activate_model_version(version=version)
    if was == "replaced":
        activate_model_version(version=other)

    page = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()
    confirm = admin_user_client.get(f"{CHANGELIST}{version.pk}/delete/")
    posted = admin_user_client.post(f"{CHANGELIST}{version.pk}/delete/", {"post": "yes"})
    action = admin_user_client.post(CHANGELIST, {
        "action": "delete_selected", "_selected_action": [str(version.pk), str(other.pk)],
        "post": "yes",
    })

    assert f'href="{CHANGELIST}{version.pk}/delete/"' not in page
    assert (confirm.status_code, posted.status_code) == (403, 403)
    kept = "fail-v1" if was == "active" else "fail-v2, fail-v1"  # both predicted
    assert ("error", f"Nothing deleted: {kept} predicted at some time and the registry keeps "
            "every version that did, with its history. Archive them instead.") in (
        messages_of(action)
    )
    assert ModelVersion.objects.filter(pk__in=[version.pk, other.pk]).count() == 2
    assert default_storage.exists(version.artifact_path)
    assert Activation.objects.count() == (2 if was == "replaced" else 1)


def test_a_version_that_never_predicted_is_deleted_in_the_admin_with_its_artifact(
    admin_user_client, register
):
    old, new = register(), register()
    activate_model_version(version=new)

    page = admin_user_client.get(f"{CHANGELIST}{old.pk}/change/").content.decode()
    response = admin_user_client.post(f"{CHANGELIST}{old.pk}/delete/", {"post": "yes"})

    assert f'href="{CHANGELIST}{old.pk}/delete/"' in page
    assert response.status_code == 302
    assert not ModelVersion.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.artifact_path)
    assert ModelVersion.objects.filter(pk=new.pk).exists()


def test_the_bulk_delete_removes_selected_versions_that_never_predicted(
    admin_user_client, register
):
    first, second, active = register(), register(), register()
    activate_model_version(version=active)

    response = admin_user_client.post(CHANGELIST, {
        "action": "delete_selected", "_selected_action": [str(first.pk), str(second.pk)],
        "post": "yes",
    })

    assert response.status_code == 302
    assert list(ModelVersion.objects.values_list("pk", flat=True)) == [active.pk]
    assert not default_storage.exists(first.artifact_path)


@pytest.mark.parametrize("model", ["activation", "activemodel"])
def test_the_activation_history_and_the_pointers_cannot_be_deleted_in_the_admin(
    admin_user_client, register, model
):
    version = register()
    activate_model_version(version=version, reason="first pick")
    row = (Activation if model == "activation" else ActiveModel).objects.get()
    listing = f"/admin/mlmodels/{model}/"

    changelist = admin_user_client.get(listing)
    page = admin_user_client.get(f"{listing}{row.pk}/change/").content.decode()
    delete = admin_user_client.post(f"{listing}{row.pk}/delete/", {"post": "yes"})
    bulk = admin_user_client.post(listing, {
        "action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes",
    })

    assert changelist.context["action_form"] is None  # no action at all, no bulk delete
    assert f'{listing}{row.pk}/delete/' not in page
    assert delete.status_code == 403
    assert bulk.status_code == 200  # no such action here: the list is shown again
    assert Activation.objects.count() == ActiveModel.objects.count() == 1


def test_archived_versions_are_kept_but_listed_only_when_asked_for(admin_user_client, register):
    old, new = register(), register()
    activate_model_version(version=old)
    activate_model_version(version=new)

    done = run_action(admin_user_client, "archive_selected", [old])
    refused = run_action(admin_user_client, "archive_selected", [new])

    def listed(query: str = "") -> set[str]:
        response = admin_user_client.get(f"{CHANGELIST}{query}")
        assert response.status_code == 200
        return {v.model_name for v in response.context["cl"].result_list}

    assert ("success", "Archived fail-v1.") in messages_of(done)
    assert ("error", "fail-v2 is the active fail model: set another version as active before "
            "archiving it.") in messages_of(refused)
    assert listed() == {"fail-v2"}
    assert listed("?archived=yes") == {"fail-v1"}
    assert listed("?archived=all") == {"fail-v1", "fail-v2"}
    page = admin_user_client.get(f"{CHANGELIST}{old.pk}/change/").content.decode()
    assert 'id="archived"' in page and 'id="set-active-link"' not in page

    activate = admin_user_client.post(f"{CHANGELIST}{old.pk}/activate/", {"reason": "back"})
    assert "fail-v1 is archived: unarchive it before setting it as active." in (
        activate.content.decode()
    )
    assert ActiveModel.objects.get().version_id == new.pk

    # From the list of archived versions, where they are.
    restored = admin_user_client.post(f"{CHANGELIST}?archived=yes", {
        "action": "unarchive_selected", "_selected_action": [str(old.pk)],
    })
    assert ("success", "Unarchived fail-v1.") in messages_of(restored)
    assert listed() == {"fail-v1", "fail-v2"}


def test_versions_cannot_be_edited_by_hand(admin_user_client, register):
    version = register()

    response = admin_user_client.post(
        f"{CHANGELIST}{version.pk}/change/", {"threshold": "0.9", "model_name": "renamed"}
    )

    version.refresh_from_db()
    assert (version.model_name, version.threshold) == ("fail-v1", pytest.approx(0.35))
    assert response.status_code == 403
    assert admin_user_client.get("/admin/mlmodels/modelversion/add/").status_code == 403


def test_pointer_and_history_admins_list_who_activated_what(admin_user_client, register):
    version = register()
    activate_model_version(version=version, user=admin_user_client.user, reason="first pick")

    pointers = admin_user_client.get("/admin/mlmodels/activemodel/").content.decode()
    history = admin_user_client.get("/admin/mlmodels/activation/").content.decode()

    assert "fail-v1" in pointers and "admin" in pointers
    assert "first pick" in history


def test_pointer_and_history_admins_name_the_fail_group_not_the_kind(admin_user_client, register):
    FailGroup.objects.update_or_create(code=9830946, defaults={"name": "Electrical"})
    activate_model_version(version=register(type_model="group_9830946"), reason="first")

    for url in ("/admin/mlmodels/activemodel/", "/admin/mlmodels/activation/"):
        page = admin_user_client.get(url).content.decode()
        cells = re.findall(r"<t[dh] class=\"field-predicts\">(?:<a [^>]*>)?([^<]*)<", page)
        assert cells == ["9830946 Electrical"], (url, cells)
        assert ">group_9830946<" not in page


def test_a_version_below_the_gate_is_set_as_active_only_with_the_override(
    admin_user_client, register
):
    active = register()
    weak = register(confusion_matrix=[[190, 5], [3, 2]], pr_auc=0.02)  # 5 positives
    activate_model_version(version=active)
    assert not weak.eligible
    url = f"{CHANGELIST}{weak.pk}/activate/"

    page = admin_user_client.get(url).content.decode()
    version_page = admin_user_client.get(f"{CHANGELIST}{weak.pk}/change/").content.decode()
    refused = admin_user_client.post(url, {"reason": "the line changed"})

    assert "below the activation gate" in page and 'name="override"' in page
    assert "below the activation gate" in version_page and weak.eligibility in version_page
    assert refused.status_code == 200
    assert "activating it needs an override" in refused.content.decode()
    assert ActiveModel.objects.get(type_model="fail").version_id == active.pk

    response = admin_user_client.post(url, {"reason": "the line changed", "override": "on"})

    assert response.status_code == 302
    assert ActiveModel.objects.get(type_model="fail").version_id == weak.pk
    assert Activation.objects.filter(version=weak, override=True,
                                     reason="the line changed").exists()


def test_a_version_page_shows_the_plain_approach_and_the_folds_it_was_judged_on(
    admin_user_client, register
):
    from tests.mlmodels.conftest import JUDGED

    version = register("group_9830946", pr_auc=0.412, plain_pr_auc=0.356, judged=JUDGED,
                       confusion_matrix=[[180, 8], [4, 8]])

    response = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/")

    page = response.content.decode()
    rows = {row["label"]: row["test"] for row in response.context["metrics"]}
    assert (rows["PR-AUC"], rows["PR-AUC of the plain approach"]) == ("0.412", "0.356")
    judged = page[page.index('id="judged-on"'):]
    assert "Chosen and gated on 4 time folds: the latest 3 blocks of the training period" in judged
    assert "1,320 vehicles, 66 with a defect of this kind" in judged
    assert "PR-AUC there 0.310; the plain approach's 0.270." in judged
    assert "66 positives in 4 time folds" in page  # the gate's reason


def test_a_version_judged_on_its_test_set_alone_says_nothing_of_folds(
    admin_user_client, register
):
    version = register()

    page = admin_user_client.get(f"{CHANGELIST}{version.pk}/change/").content.decode()

    assert 'id="judged-on"' not in page
    assert "70 positives in the test set" in page
