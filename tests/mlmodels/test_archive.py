"""A registry nobody can erase: versions that ever predicted and the activation history are
kept (PROTECT, on both databases), archived instead of deleted; the others may be deleted."""

from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage
from django.db.models import ProtectedError
from django.utils import timezone

from crossline.exceptions import Conflict
from mlmodels import archive, services
from mlmodels.archive import archive_model_version, delete_model_version, unarchive_model_version
from mlmodels.models import Activation, ActiveModel, ModelVersion, VersionScores
from mlmodels.selectors import get_ever_active_ids, list_model_versions
from mlmodels.services import activate_if_none_active, activate_model_version
from plant.imports import delete_dataset
from plant.models import Dataset
from training.models import TrainingRun
from training.runs import discard_run_versions

pytestmark = pytest.mark.django_db


def history() -> list[tuple]:
    return list(
        Activation.objects.order_by("sequence").values_list(
            "sequence", "version_id", "previous_version_id"
        )
    )


@pytest.mark.parametrize("was", ["active", "replaced"])
def test_a_version_that_ever_predicted_is_never_deleted(register, was):
    version, other = register(), register()
    activate_model_version(version=version)
    if was == "replaced":
        activate_model_version(version=other)
    before = history()

    with pytest.raises(Conflict, match="^fail-v1 was set as active at some time: .* Archive it "):
        delete_model_version(version=version)

    assert ModelVersion.objects.filter(pk=version.pk).exists()
    assert default_storage.exists(version.artifact_path)
    assert history() == before


def test_a_version_that_never_predicted_is_deleted_with_its_artifact_and_scores(register):
    scores = {"y_true": [0, 1, 0, 1], "scores": [0.1, 0.8, 0.3, 0.9]}
    kept, dropped = register(), register(heldout=scores, test_scores=scores)
    activate_model_version(version=kept)
    assert VersionScores.objects.filter(version=dropped).exists()

    delete_model_version(version=dropped)

    assert list(ModelVersion.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not default_storage.exists(dropped.artifact_path)
    assert default_storage.exists(kept.artifact_path)
    assert not VersionScores.objects.filter(version_id=dropped.pk).exists()
    assert history() == [(1, kept.pk, None)]


@pytest.mark.parametrize("named_as", ["version", "previous_version"])
def test_the_history_protects_the_versions_it_names_even_from_the_orm(register, named_as):
    # One history row naming the version one way only, and no pointer to it: what keeps the
    # version is that row's foreign key alone (on MongoDB, Django's deletion collector).
    named, other = register(), register()
    Activation.objects.create(
        type_model="fail",
        version=named if named_as == "version" else other,
        previous_version=named if named_as == "previous_version" else None,
        activated_at=timezone.now(),
        sequence=1,
    )

    with pytest.raises(ProtectedError):
        named.delete()
    with pytest.raises(ProtectedError):
        ModelVersion.objects.filter(pk=named.pk).delete()
    with pytest.raises(Conflict):
        delete_model_version(version=named)

    assert ModelVersion.objects.filter(pk=named.pk).exists()
    assert Activation.objects.count() == 1


def test_a_version_set_as_active_between_the_check_and_the_delete_is_kept(register, monkeypatch):
    version = register()
    def activated_after_the_check(checked: ModelVersion) -> bool:
        # The check sees a version that never predicted; an activation lands right after it.
        activate_model_version(version=checked)
        return False

    monkeypatch.setattr(archive, "was_ever_active", activated_after_the_check)

    with pytest.raises(Conflict, match="^fail-v1 was just set as active; it was not deleted.$"):
        delete_model_version(version=version)

    assert ActiveModel.objects.get().version_id == version.pk
    assert default_storage.exists(version.artifact_path)


def test_nothing_else_deletes_a_version_or_its_history(register, django_user_model):
    user = django_user_model.objects.create_user(username="gone", password="x-long-password")
    run = TrainingRun.objects.create(status=TrainingRun.Status.SUCCEEDED)
    dataset = Dataset.objects.create(kind="results", original_name="r.csv", size_bytes=1,
                                     sha256="a" * 64, status=Dataset.Status.READY)
    old, new = register(), register()
    ModelVersion.objects.filter(pk__in=[old.pk, new.pk]).update(
        training_run=run, data={"datasets": [{"id": str(dataset.pk), "sha256": "a" * 64}]}
    )
    activate_model_version(version=old, user=user)
    activate_model_version(version=new, user=user)

    run.delete()
    delete_dataset(dataset=dataset)
    with pytest.raises(ProtectedError):
        user.delete()  # the history names them: made inactive instead (test below)

    assert set(ModelVersion.objects.values_list("pk", "training_run_id")) == {
        (old.pk, None), (new.pk, None)
    }
    assert history() == [(1, old.pk, None), (2, new.pk, old.pk)]
    assert set(Activation.objects.values_list("activated_by", flat=True)) == {user.pk}


def test_a_failed_run_discards_its_versions_but_keeps_one_that_predicted(register):
    run = TrainingRun.objects.create(status=TrainingRun.Status.FAILED)
    replaced, active, never = register(), register(), register()
    ModelVersion.objects.filter(pk__in=[replaced.pk, active.pk, never.pk]).update(
        training_run=run
    )
    activate_model_version(version=replaced)
    activate_model_version(version=active)

    discard_run_versions(run)

    assert set(ModelVersion.objects.values_list("pk", flat=True)) == {replaced.pk, active.pk}
    assert not default_storage.exists(never.artifact_path)
    assert get_ever_active_ids([replaced.pk, active.pk, never.pk]) == {replaced.pk, active.pk}


def test_an_archived_version_is_kept_unlisted_and_never_set_as_active_until_unarchived(register):
    old, new = register(), register()
    activate_model_version(version=old)
    activate_model_version(version=new)

    assert archive_model_version(version=old) is True
    assert archive_model_version(version=old) is False  # already archived: nothing changes

    assert list(list_model_versions(archived=False)) == [new]
    assert list(list_model_versions(archived=True)) == [old]
    assert list(list_model_versions()) == [new, old]
    with pytest.raises(Conflict, match="^fail-v1 is archived: unarchive it before setting it"):
        activate_model_version(version=old, reason="go back")
    assert ActiveModel.objects.get().version_id == new.pk
    with pytest.raises(Conflict, match="^fail-v1 was set as active at some time"):
        delete_model_version(version=old)

    assert unarchive_model_version(version=old) is True
    assert unarchive_model_version(version=old) is False
    activate_model_version(version=old, reason="go back")
    assert ActiveModel.objects.get().version_id == old.pk


def test_the_active_version_cannot_be_archived(register):
    version = register()
    activate_model_version(version=version)

    with pytest.raises(Conflict, match="^fail-v1 is the active fail model: set another version"):
        archive_model_version(version=version)

    assert ModelVersion.objects.get().archived_at is None


def test_an_archive_racing_an_activation_never_leaves_the_active_version_archived(
    register, monkeypatch
):
    first, racing = register(), register()
    activate_model_version(version=first)
    move_pointer = services._move_pointer

    def archived_meanwhile(version, **kwargs):
        # An archive that checked the pointer before this move flags the version now.
        ModelVersion.objects.filter(pk=version.pk).update(archived_at=timezone.now())
        return move_pointer(version, **kwargs)

    monkeypatch.setattr(services, "_move_pointer", archived_meanwhile)
    activate_model_version(version=racing)

    assert ActiveModel.objects.get().version_id == racing.pk
    assert ModelVersion.objects.get(pk=racing.pk).archived_at is None


def test_an_activation_racing_an_archive_makes_the_archive_step_back(register, monkeypatch):
    first, racing = register(), register()
    activate_model_version(version=first)
    now = timezone.now

    def activated_meanwhile():
        # Between the archive's first look at the pointer and its write, the racing version
        # is set as active (the pointer's compare-and-set, as an activation writes it).
        ActiveModel.objects.filter(type_model="fail").update(version=racing)
        return now()

    monkeypatch.setattr(archive, "timezone", SimpleNamespace(now=activated_meanwhile))

    with pytest.raises(Conflict, match="^fail-v2 is the active fail model: set another version"):
        archive_model_version(version=racing)

    assert ModelVersion.objects.get(pk=racing.pk).archived_at is None


def test_training_never_activates_an_archived_version(register):
    version = register()
    archive_model_version(version=version)
    version.refresh_from_db()

    assert activate_if_none_active(version=version) is False
    assert not ActiveModel.objects.exists()


def test_the_user_the_history_names_cannot_be_deleted_only_made_inactive(
    register, django_user_model, admin_user_client
):
    lead = django_user_model.objects.create_user("lead", password="x", is_staff=True)
    version = register()
    activate_model_version(version=version, user=lead, reason="first pick")

    with pytest.raises(ProtectedError):
        lead.delete()
    page = admin_user_client.get(f"/admin/auth/user/{lead.pk}/delete/").content.decode()
    admin_user_client.post(f"/admin/auth/user/{lead.pk}/delete/", {"post": "yes"})

    assert "Cannot delete user" in page and "<li>activation</li>" in page  # what keeps them
    assert django_user_model.objects.filter(pk=lead.pk).exists()
    lead.is_active = False  # who leaves the team: Django's way, and the history keeps the name
    lead.save()
    assert Activation.objects.get().activated_by.username == "lead"
