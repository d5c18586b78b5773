import threading

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from crossline.exceptions import ArtifactTampered, NoActiveModel, NotFound
from mlmodels.models import Activation, ActiveModel, ModelVersion
from mlmodels.services import (
    activate_if_none_active,
    activate_model_by_name,
    activate_model_version,
    clear_model_cache,
    get_active_models,
    load_pipeline,
)


@pytest.fixture(autouse=True)
def empty_model_cache():
    clear_model_cache()
    yield
    clear_model_cache()


def overwrite_artifact(version: ModelVersion, payload: bytes) -> None:
    default_storage.delete(version.artifact_path)
    assert (
        default_storage.save(version.artifact_path, ContentFile(payload)) == version.artifact_path
    )


@pytest.mark.django_db
def test_registering_numbers_versions_per_kind_and_stores_a_loadable_artifact(register):
    first, second, other = register("fail"), register("fail"), register("group_4")

    assert [(v.model_name, v.version) for v in (first, second, other)] == [
        ("fail-v1", 1),
        ("fail-v2", 2),
        ("group_4-v1", 1),
    ]
    assert first.artifact_path != second.artifact_path
    assert first.recall == pytest.approx(0.74)
    assert first.confusion_matrix == [[100, 30], [20, 50]]
    assert "scikit-learn" in first.library_versions
    probabilities = load_pipeline(first).predict_proba(np.zeros((2, 3)))
    assert probabilities.shape == (2, 2)


@pytest.mark.django_db
def test_set_active_leaves_exactly_one_active_version_and_records_what_it_replaced(
    register, staff_user
):
    first, second = register(), register()

    activate_model_version(version=first)
    activate_model_version(version=second, user=staff_user, reason="better recall")

    pointers = list(ActiveModel.objects.filter(type_model="fail"))
    assert len(pointers) == 1
    assert pointers[0].version_id == second.pk
    assert pointers[0].activated_by_id == staff_user.pk
    latest = Activation.objects.filter(type_model="fail").order_by("-activated_at").first()
    assert (latest.version_id, latest.previous_version_id) == (second.pk, first.pk)
    assert latest.reason == "better recall"
    assert Activation.objects.filter(type_model="fail").count() == 2


@pytest.mark.django_db
def test_activation_of_one_kind_leaves_other_kinds_alone(register):
    fail, group = register("fail"), register("group_4")
    activate_model_version(version=group)

    activate_model_version(version=fail)

    assert ActiveModel.objects.get(type_model="group_4").version_id == group.pk


@pytest.mark.django_db
def test_activate_by_name_refuses_an_unknown_name(register):
    register()
    with pytest.raises(NotFound):
        activate_model_by_name(model_name="fail-v9")
    assert not ActiveModel.objects.exists()


@pytest.mark.django_db
def test_first_trained_version_becomes_active_only_when_none_is(register):
    first, second = register(), register()

    assert activate_if_none_active(version=first) is True
    assert activate_if_none_active(version=second) is False

    assert ActiveModel.objects.get(type_model="fail").version_id == first.pk
    assert Activation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_activations_leave_one_pointer_and_a_complete_history(register):
    versions = [register() for _ in range(4)]
    start = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def activate(version: ModelVersion) -> None:
        try:
            start.wait()
            activate_model_version(version=version, reason="race")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    pointers = list(ActiveModel.objects.filter(type_model="fail"))
    assert len(pointers) == 1
    ids = {v.pk for v in versions}
    assert pointers[0].version_id in ids
    history = list(Activation.objects.filter(type_model="fail"))
    assert {a.version_id for a in history} == ids
    # Compare-and-set makes the history one chain: each activation replaced the one before.
    replaced = [a.previous_version_id for a in history]
    assert replaced.count(None) == 1
    assert {r for r in replaced if r is not None} == ids - {pointers[0].version_id}


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_versions_with_intact_artifacts(register):
    start = threading.Barrier(3)
    registered: list[ModelVersion] = []
    errors: list[BaseException] = []

    def register_one() -> None:
        try:
            start.wait()
            registered.append(register())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=register_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(v.version for v in ModelVersion.objects.all()) == [1, 2, 3]
    for version in ModelVersion.objects.all():
        assert load_pipeline(version) is not None


@pytest.mark.django_db
def test_a_tampered_artifact_is_never_loaded(register):
    version = register()
    activate_model_version(version=version)
    assert set(get_active_models()) == {"fail"}
    clear_model_cache()

    overwrite_artifact(version, b"not what crossline wrote")

    with pytest.raises(ArtifactTampered):
        load_pipeline(version)
    with pytest.raises(ArtifactTampered):
        get_active_models()


@pytest.mark.django_db
def test_a_missing_artifact_is_reported(register):
    version = register()
    default_storage.delete(version.artifact_path)
    with pytest.raises(NotFound):
        load_pipeline(version)


@pytest.mark.django_db
def test_active_models_follow_the_pointer(register):
    first, second = register(), register()
    with pytest.raises(NoActiveModel):
        get_active_models()

    activate_model_version(version=first)
    assert get_active_models()["fail"].version.pk == first.pk
    activate_model_version(version=second)
    assert get_active_models()["fail"].version.pk == second.pk
