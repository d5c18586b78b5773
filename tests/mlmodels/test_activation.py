"""The activation gate and its override, the no-op activation, the artifact check, one chain."""

import contextlib
import threading
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from crossline.exceptions import AlreadyActive, ArtifactTampered, IneligibleVersion
from mlmodels.models import Activation, ActiveModel, ModelVersion
from mlmodels.services import (
    activate_if_none_active,
    activate_model_version,
    clear_model_cache,
    get_active_models,
)
from tests.mlmodels.conftest import FEW_POSITIVES, NO_SKILL


@pytest.fixture(autouse=True)
def empty_model_cache():
    clear_model_cache()
    yield
    clear_model_cache()


def pointer(kind: str = "fail") -> ActiveModel | None:
    return ActiveModel.objects.filter(type_model=kind).first()


def chain(kind: str = "fail") -> list[Activation]:
    return list(Activation.objects.filter(type_model=kind).order_by("sequence"))


def assert_one_chain(kind: str = "fail") -> None:
    history = chain(kind)
    assert [a.sequence for a in history] == list(range(1, len(history) + 1))
    assert history[0].previous_version_id is None
    for before, after in zip(history, history[1:], strict=False):
        assert after.previous_version_id == before.version_id, (before, after)
    current = pointer(kind)
    assert current.version_id == history[-1].version_id
    assert current.generation == len(history)


# --- the gate -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_gate_is_judged_at_registration_with_its_reason(register, settings):
    good = register()
    few = register(**FEW_POSITIVES)
    flat = register(**NO_SKILL)

    assert good.eligible
    assert good.test_positives == 70
    assert good.test_prevalence == pytest.approx(0.35)
    assert not few.eligible
    assert few.eligibility == "only 12 positives in the test set (the gate needs 30)"
    assert not flat.eligible
    assert flat.eligibility == (
        "PR-AUC 0.400 below 0.447 (odds 1.5× those of the prevalence 0.350)"
    )

    settings.CROSSLINE_GATE_MIN_POSITIVES = 10
    assert register(**FEW_POSITIVES).eligible


@pytest.mark.django_db
def test_an_ineligible_version_is_never_activated_automatically(register):
    below = register("group_133", **FEW_POSITIVES)

    assert activate_if_none_active(version=below) is False

    assert pointer("group_133") is None
    assert not Activation.objects.exists()


@pytest.mark.django_db
def test_an_eligible_first_version_replaces_an_active_one_below_the_gate(register):
    below = register(**NO_SKILL)
    # As if it had been active before the gate existed.
    ModelVersion.objects.filter(pk=below.pk).update(eligible=True)
    activate_model_version(version=ModelVersion.objects.get(pk=below.pk))
    ModelVersion.objects.filter(pk=below.pk).update(eligible=False)
    good = register()

    assert activate_if_none_active(version=good) is True

    assert pointer().version_id == good.pk
    assert chain()[-1].previous_version_id == below.pk
    assert activate_if_none_active(version=register()) is False


@pytest.mark.django_db
def test_activating_an_ineligible_version_by_hand_needs_an_override_and_a_reason(
    register, staff_user
):
    good, below = register(), register(**NO_SKILL)
    activate_model_version(version=good)

    with pytest.raises(IneligibleVersion, match="below the activation gate"):
        activate_model_version(version=below, user=staff_user)
    with pytest.raises(IneligibleVersion, match="reason"):
        activate_model_version(version=below, user=staff_user, override=True, reason="  ")
    assert pointer().version_id == good.pk
    assert len(chain()) == 1

    activation = activate_model_version(
        version=below, user=staff_user, override=True, reason="the line changed; trial week"
    )

    assert pointer().version_id == below.pk
    assert pointer().override is True
    assert (activation.override, activation.reason) == (True, "the line changed; trial week")
    assert activation.previous_version_id == good.pk
    assert activation.activated_by_id == staff_user.pk
    # Overridden on purpose: it predicts.
    assert get_active_models()["fail"].version.pk == below.pk


@pytest.mark.django_db
def test_an_active_version_below_the_gate_without_an_override_does_not_predict(register):
    fail = register()
    group = register("group_133", **FEW_POSITIVES)
    activate_model_version(version=fail)
    ModelVersion.objects.filter(pk=group.pk).update(eligible=True)
    activate_model_version(version=ModelVersion.objects.get(pk=group.pk))
    ModelVersion.objects.filter(pk=group.pk).update(eligible=False)

    assert set(get_active_models()) == {"fail"}


@pytest.mark.django_db
def test_set_active_model_command_overrides_the_gate_only_when_told(register):
    good, below = register(), register(**FEW_POSITIVES)
    activate_model_version(version=good)

    with pytest.raises(CommandError, match="--override --reason"):
        call_command("set_active_model", "fail-v2", stdout=StringIO())
    with pytest.raises(CommandError, match="reason"):
        call_command("set_active_model", "fail-v2", "--override", stdout=StringIO())
    assert pointer().version_id == good.pk

    out = StringIO()
    call_command(
        "set_active_model", "fail-v2", "--override", "--reason", "audit asked for it", stdout=out
    )

    assert out.getvalue().strip() == (
        "fail-v2 is now the active fail model (was fail-v1). Gate overridden: audit asked for it"
    )
    assert (chain()[-1].version_id, chain()[-1].override) == (below.pk, True)


@pytest.mark.django_db
def test_api_set_active_takes_override_and_reason(lead_api, register):
    good, below = register(), register(**FEW_POSITIVES)
    activate_model_version(version=good)
    url = f"/api/models/{below.pk}/set-active/"

    refused = lead_api.post(url, {}, format="json")
    no_reason = lead_api.post(url, {"override": True}, format="json")
    done = lead_api.post(url, {"override": True, "reason": "known issue"}, format="json")

    assert refused.status_code == 409
    assert "below the activation gate" in refused.json()["detail"]
    assert no_reason.status_code == 409
    assert done.status_code == 200
    assert done.json()["using"] is True
    assert done.json()["eligible"] is False
    assert done.json()["detail"] == (
        "fail-v2 is now the active fail model (was fail-v1). Gate overridden: known issue"
    )
    history = lead_api.get("/api/models/activations/").json()["results"]
    assert (history[0]["override"], history[0]["reason"]) == (True, "known issue")


@pytest.mark.django_db
def test_admin_set_as_active_refuses_an_ineligible_version_with_a_clear_message(
    admin_user_client, register
):
    good, below = register(), register(**FEW_POSITIVES)
    activate_model_version(version=good)

    confirm = admin_user_client.post(
        "/admin/mlmodels/modelversion/",
        {"action": "set_as_active", "_selected_action": [str(below.pk)]},
        follow=True,
    )
    assert "only 12 positives in the test set" in confirm.content.decode()
    response = admin_user_client.post(
        f"/admin/mlmodels/modelversion/{below.pk}/activate/", {"reason": "try it"}
    )

    text = response.content.decode()
    assert (
        "fail-v2 is below the activation gate (only 12 positives in the test set (the gate needs "
        "30)); activating it needs an override with a reason." in text
    )
    assert 'name="override"' in text
    assert pointer().version_id == good.pk
    page = admin_user_client.get(f"/admin/mlmodels/modelversion/{below.pk}/change/")
    assert "only 12 positives in the test set" in page.content.decode()


# --- no-op, artifact check ----------------------------------------------------------------------


@pytest.mark.django_db
def test_activating_the_active_version_is_a_no_op_that_says_so(
    register, lead_api, admin_user_client
):
    version = register()
    activate_model_version(version=version)

    with pytest.raises(AlreadyActive, match="^fail-v1 is already the active fail model.$"):
        activate_model_version(version=version)
    out = StringIO()
    call_command("set_active_model", "fail-v1", stdout=out)
    api = lead_api.post(f"/api/models/{version.pk}/set-active/")
    admin = admin_user_client.post(
        "/admin/mlmodels/modelversion/",
        {"action": "set_as_active", "_selected_action": [str(version.pk)]},
        follow=True,
    )

    assert out.getvalue().strip() == "fail-v1 is already the active fail model."
    assert (api.status_code, api.json()["detail"]) == (
        200, "fail-v1 is already the active fail model."
    )
    assert "fail-v1 is already the active fail model." in [
        str(m) for m in admin.context["messages"]
    ]
    assert Activation.objects.count() == 1
    assert pointer().generation == 1


@pytest.mark.django_db
def test_a_tampered_artifact_is_refused_at_activation_and_nothing_changes(register):
    old, new = register(), register()
    activate_model_version(version=old)
    default_storage.delete(new.artifact_path)
    default_storage.save(new.artifact_path, ContentFile(b"not what crossline wrote"))

    with pytest.raises(ArtifactTampered, match="fail-v2 does not match its registered SHA-256"):
        activate_model_version(version=new)
    with pytest.raises(CommandError, match="SHA-256"):
        call_command("set_active_model", "fail-v2", stdout=StringIO())

    assert pointer().version_id == old.pk
    assert Activation.objects.count() == 1


# --- one chain under concurrency ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_one_unbroken_history_chain(register):
    versions = [register() for _ in range(6)]
    rounds = 3
    start = threading.Barrier(len(versions))
    errors: list[BaseException] = []
    done: list[Activation] = []

    def activate_in_turn(first: int) -> None:
        try:
            start.wait()
            for step in range(rounds):
                version = versions[(first + step) % len(versions)]
                with contextlib.suppress(AlreadyActive):
                    done.append(activate_model_version(version=version, reason="race"))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate_in_turn, args=(i,)) for i in range(len(versions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ActiveModel.objects.filter(type_model="fail").count() == 1
    assert len(chain()) == len(done) >= len(versions)
    assert_one_chain()


@pytest.mark.django_db
def test_the_history_chain_survives_going_back_to_an_earlier_version(register):
    a, b = register(), register()
    for version in (a, b, a, b, a):
        activate_model_version(version=version)

    assert [x.version_id for x in chain()] == [a.pk, b.pk, a.pk, b.pk, a.pk]
    assert_one_chain()
