"""Each protected action of the registry needs its permission, in the admin and in the API:
staff without the "Quality lead" group are refused, its members allowed, superusers too."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from mlmodels.models import ActiveModel, ModelVersion, ThresholdPolicy
from mlmodels.services import activate_model_version
from tests.mlmodels.conftest import FEW_POSITIVES

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/mlmodels/modelversion/"


@pytest.fixture
def viewer(staff_user):
    """Staff who may see every page of the registry (view permissions), nothing more."""
    staff_user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="mlmodels", codename__startswith="view_")
    )
    return staff_user


def logged_in(client, user):
    client.force_login(user)
    return client


def action_names(response) -> set[str]:
    form = response.context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices}


def forbidden(permission: str) -> tuple[int, dict]:
    """The one error shape of a refusal naming the permission."""
    return 403, {
        "detail": f"This needs the permission {permission}.",
        "code": "permission_denied",
        "errors": {},
    }


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture
def versions(register):
    active, other = register(), register()
    activate_model_version(version=active)
    return active, other


@pytest.mark.parametrize(
    ("method", "path", "body", "permission"),
    [
        ("post", "/api/models/{other}/set-active/", {}, "mlmodels.activate_modelversion"),
        ("post", "/api/train/select_model/", {"model_name": "fail-v2"},
         "mlmodels.activate_modelversion"),
        ("post", "/api/models/{other}/archive/", None, "mlmodels.archive_modelversion"),
        ("post", "/api/models/{other}/unarchive/", None, "mlmodels.archive_modelversion"),
        ("delete", "/api/models/{other}/", None, "mlmodels.delete_modelversion"),
        ("put", "/api/threshold-policies/fail/", {"policy": "recall", "value": 0.8},
         "mlmodels.change_thresholdpolicy"),
    ],
)
def test_each_protected_api_action_refuses_staff_and_lets_a_quality_lead(
    staff_api, lead_api, versions, method, path, body, permission
):
    active, other = versions
    url = path.format(other=other.pk)
    if "unarchive" in url:
        ModelVersion.objects.filter(pk=other.pk).update(archived_at=timezone.now())
    archived = ModelVersion.objects.get(pk=other.pk).archived_at

    refused = getattr(staff_api, method)(url, body, format="json")

    assert (refused.status_code, refused.json()) == forbidden(permission)
    assert ActiveModel.objects.get().version_id == active.pk
    assert ModelVersion.objects.get(pk=other.pk).archived_at == archived
    assert not ThresholdPolicy.objects.exists()

    allowed = getattr(lead_api, method)(url, body, format="json")

    assert allowed.status_code == (204 if method == "delete" else 200), allowed.content
    changed = {
        "set-active": lambda: ActiveModel.objects.get().version_id == other.pk,
        "select_model": lambda: ActiveModel.objects.get().version_id == other.pk,
        "/archive/": lambda: ModelVersion.objects.get(pk=other.pk).archived_at is not None,
        "unarchive": lambda: ModelVersion.objects.get(pk=other.pk).archived_at is None,
        "threshold": lambda: ThresholdPolicy.objects.get().policy == "recall",
    }
    if method == "delete":
        assert not ModelVersion.objects.filter(pk=other.pk).exists()
    else:
        [check] = [check for key, check in changed.items() if key in url]
        assert check()


def test_overriding_the_gate_needs_its_own_permission(staff_user, staff_api, lead_api, register):
    good, below = register(), register(**FEW_POSITIVES)
    activate_model_version(version=good)
    staff_user.user_permissions.add(Permission.objects.get(codename="activate_modelversion"))
    url = f"/api/models/{below.pk}/set-active/"
    body = {"override": True, "reason": "trial week"}

    refused = staff_api.post(url, body, format="json")

    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "fail-v2 is below the activation gate: overriding the gate needs the "
        "permission mlmodels.override_gate.",
        "code": "permission_denied",
        "errors": {},
    }
    assert ActiveModel.objects.get().version_id == good.pk
    # Without the override, the gate answers as it answers everybody.
    assert staff_api.post(url, {}, format="json").status_code == 409
    # An eligible version needs no override: the one permission is enough.
    assert staff_api.post(f"/api/models/{good.pk}/set-active/").status_code == 200

    allowed = lead_api.post(url, body, format="json")

    assert allowed.status_code == 200, allowed.content
    assert ActiveModel.objects.get().version_id == below.pk


def test_superusers_hold_every_permission(admin_user_client, versions):
    from rest_framework.test import APIClient

    active, other = versions
    api = APIClient()
    api.force_authenticate(admin_user_client.user)

    assert api.post(f"/api/models/{other.pk}/set-active/").status_code == 200
    assert api.post(f"/api/models/{active.pk}/archive/").status_code == 200
    assert api.put("/api/threshold-policies/fail/", {"policy": "f2"},
                   format="json").status_code == 200


def test_reads_stay_open_to_every_user(plain_api, versions):
    active, _ = versions
    assert plain_api.get("/api/models/").status_code == 200
    assert plain_api.get(f"/api/models/{active.pk}/").status_code == 200
    assert plain_api.get("/api/models/activations/").status_code == 200
    assert plain_api.get("/api/threshold-policies/").status_code == 200


# --- the admin -----------------------------------------------------------------------------------


def test_the_admin_hides_and_refuses_every_protected_registry_action_to_staff(
    client, viewer, versions
):
    active, other = versions
    staff = logged_in(client, viewer)

    changelist = staff.get(CHANGELIST)
    page = staff.get(f"{CHANGELIST}{other.pk}/change/").content.decode()

    assert changelist.status_code == 200
    assert action_names(changelist) == {"", "compare_selected"}
    assert 'id="set-active-link"' not in page and f"{other.pk}/delete/" not in page
    assert staff.get(f"{CHANGELIST}{other.pk}/activate/").status_code == 403
    assert staff.post(f"{CHANGELIST}{other.pk}/activate/", {"reason": "x"}).status_code == 403
    assert staff.post(f"{CHANGELIST}{other.pk}/delete/", {"post": "yes"}).status_code == 403
    for action in ("set_as_active", "archive_selected", "delete_selected"):
        staff.post(CHANGELIST, {"action": action, "_selected_action": [str(other.pk)],
                                "post": "yes"})
    assert ActiveModel.objects.get().version_id == active.pk
    assert ModelVersion.objects.filter(pk=other.pk, archived_at=None).exists()


def test_the_admin_lets_a_quality_lead_activate_archive_and_delete(client, lead_user, register):
    active, chosen, retired, dropped = register(), register(), register(), register()
    activate_model_version(version=active)
    activate_model_version(version=retired)
    activate_model_version(version=active)
    lead = logged_in(client, lead_user)

    changelist = lead.get(CHANGELIST)
    page = lead.get(f"{CHANGELIST}{chosen.pk}/change/").content.decode()
    activated = lead.post(f"{CHANGELIST}{chosen.pk}/activate/", {"reason": "better recall"})
    archived = lead.post(CHANGELIST, {"action": "archive_selected",
                                      "_selected_action": [str(retired.pk)]})
    deleted = lead.post(f"{CHANGELIST}{dropped.pk}/delete/", {"post": "yes"})

    assert action_names(changelist) == {
        "", "set_as_active", "compare_selected", "archive_selected", "unarchive_selected",
        "delete_selected",
    }
    assert 'id="set-active-link"' in page and f"{chosen.pk}/delete/" in page
    assert (activated.status_code, archived.status_code, deleted.status_code) == (302, 302, 302)
    assert ActiveModel.objects.get().version_id == chosen.pk
    assert ModelVersion.objects.get(pk=retired.pk).archived_at is not None
    assert not ModelVersion.objects.filter(pk=dropped.pk).exists()


def test_the_override_box_shows_only_to_who_may_override_the_gate(
    client, viewer, lead_user, register
):
    good, below = register(), register(**FEW_POSITIVES)
    activate_model_version(version=good)
    viewer.user_permissions.add(Permission.objects.get(codename="activate_modelversion"))
    url = f"{CHANGELIST}{below.pk}/activate/"
    staff = logged_in(client, viewer)

    page = staff.get(url).content.decode()
    forced = staff.post(url, {"reason": "trial week", "override": "on"})

    assert 'name="override"' not in page and 'id="no-override"' in page
    assert forced.status_code == 200
    assert "activating it needs an override with a reason" in forced.content.decode()
    assert ActiveModel.objects.get().version_id == good.pk

    lead = logged_in(client, lead_user)
    assert 'name="override"' in lead.get(url).content.decode()
    assert lead.post(url, {"reason": "trial week", "override": "on"}).status_code == 302
    assert ActiveModel.objects.get().version_id == below.pk


def test_threshold_policies_are_edited_in_the_admin_only_with_the_permission(
    client, viewer, lead_user, register
):
    register()
    policy = ThresholdPolicy.objects.create(type_model="fail", policy="recall", value=0.8)
    listing = "/admin/mlmodels/thresholdpolicy/"
    staff = logged_in(client, viewer)
    edit = {"policy": "capacity", "value": "0.1"}

    assert staff.get(listing).status_code == 200
    assert staff.get(f"{listing}add/").status_code == 403
    assert staff.post(f"{listing}{policy.pk}/change/", edit).status_code == 403
    assert staff.post(f"{listing}{policy.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ThresholdPolicy.objects.get().policy == "recall"

    lead = logged_in(client, lead_user)
    assert lead.post(f"{listing}{policy.pk}/change/", edit).status_code == 302
    assert ThresholdPolicy.objects.get().policy == "capacity"
    assert lead.post(f"{listing}{policy.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not ThresholdPolicy.objects.exists()
