import pytest
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage

from mlmodels.models import Activation, ActiveModel, ModelVersion
from mlmodels.services import activate_model_version

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
    assert "0.620" in page


def test_set_as_active_action_with_one_version_moves_the_pointer(admin_user_client, register):
    old, new = register(), register()
    activate_model_version(version=old)

    response = run_action(admin_user_client, "set_as_active", [new])

    assert response.status_code == 302
    assert ActiveModel.objects.filter(type_model="fail").count() == 1
    assert ActiveModel.objects.get(type_model="fail").version_id == new.pk
    assert ("success", "fail-v2 is now the active fail model (was fail-v1).") in messages_of(
        response
    )


def test_set_as_active_action_with_two_versions_changes_nothing(admin_user_client, register):
    old, new = register(), register()
    activate_model_version(version=old)

    response = run_action(admin_user_client, "set_as_active", [old, new])

    assert ("error", "Select exactly one version to set as active.") in messages_of(response)
    assert ActiveModel.objects.get(type_model="fail").version_id == old.pk
    assert Activation.objects.count() == 1


def test_compare_action_redirects_to_the_compare_page(admin_user_client, register):
    version = register()

    response = run_action(admin_user_client, "compare_with_active", [version])

    assert response.status_code == 302
    assert response["Location"] == f"{CHANGELIST}{version.pk}/compare/"


def test_compare_page_shows_challenger_and_active_metrics_side_by_side(admin_user_client, register):
    active = register(recall=0.70, pr_auc=0.55)
    challenger = register(recall=0.85, pr_auc=0.60)
    activate_model_version(version=active)

    response = admin_user_client.get(f"{CHANGELIST}{challenger.pk}/compare/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "challenger: fail-v2" in page
    assert "active: fail-v1" in page
    rows = {row["label"]: row for row in response.context["rows"]}
    assert (rows["Recall"]["challenger"], rows["Recall"]["active"]) == ("0.850", "0.700")
    assert rows["Recall"]["difference"] == "+0.150"
    assert rows["PR-AUC"]["difference"] == "+0.050"
    assert "Set fail-v2 as active" in page


def test_compare_page_can_set_the_challenger_as_active(admin_user_client, register):
    active, challenger = register(), register()
    activate_model_version(version=active)

    response = admin_user_client.post(f"{CHANGELIST}{challenger.pk}/compare/", {"set_active": "1"})

    assert response.status_code == 302
    assert ActiveModel.objects.get(type_model="fail").version_id == challenger.pk


def test_deleting_the_active_version_in_the_admin_is_refused(admin_user_client, register):
    version = register()
    activate_model_version(version=version)

    response = admin_user_client.post(f"{CHANGELIST}{version.pk}/delete/", {"post": "yes"})
    action = run_action(admin_user_client, "delete_selected", [version])

    assert any(
        level == "error" and "cannot be deleted" in text for level, text in messages_of(response)
    )
    assert any(
        level == "error" and "Not deleted: fail-v1" in text for level, text in messages_of(action)
    )
    assert ModelVersion.objects.filter(pk=version.pk).exists()
    assert default_storage.exists(version.artifact_path)


def test_deleting_an_inactive_version_in_the_admin_removes_its_artifact(
    admin_user_client, register
):
    old, new = register(), register()
    activate_model_version(version=old)
    activate_model_version(version=new)

    response = admin_user_client.post(f"{CHANGELIST}{old.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ModelVersion.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.artifact_path)


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
