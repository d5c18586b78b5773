"""The "Quality lead" group the migrations create, and the migration helper that fills it."""

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import connection

from crossline.groups import QUALITY_LEAD, grant

pytestmark = pytest.mark.django_db

# What the README promises the group holds: the protected actions, and the pages they are on.
QUALITY_LEAD_PERMISSIONS = {
    ("mlmodels", "activate_modelversion"),
    ("mlmodels", "override_gate"),
    ("mlmodels", "archive_modelversion"),
    ("mlmodels", "delete_modelversion"),
    ("mlmodels", "change_thresholdpolicy"),
    ("mlmodels", "view_modelversion"),
    ("mlmodels", "view_activemodel"),
    ("mlmodels", "view_activation"),
    ("plant", "delete_dataset"),
    ("plant", "view_dataset"),
    ("predictions", "delete_prediction"),
    ("predictions", "view_prediction"),
    ("predictions", "change_inspectioncapacity"),
    ("predictions", "view_worklist"),
}


def held(group: Group) -> set[tuple[str, str]]:
    return {
        (app_label, codename)
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_the_migrations_create_the_quality_lead_group_with_exactly_its_permissions():
    # The test database was migrated from nothing: a fresh installation.
    group = Group.objects.get(name=QUALITY_LEAD)

    assert held(group) == QUALITY_LEAD_PERMISSIONS
    assert Permission.objects.get(codename="override_gate").name == (
        "Can set a version below the activation gate as active"
    )


def test_a_grant_creates_what_is_missing_and_takes_back_only_its_own():
    schema_editor = SimpleNamespace(connection=connection)
    forward, backward = grant("mlmodels", ["view_thresholdpolicy", "override_gate"], group="QA")
    Permission.objects.filter(codename="view_thresholdpolicy").delete()  # as on a fresh install

    forward(apps, schema_editor)
    forward(apps, schema_editor)  # run again: nothing doubles

    qa = Group.objects.get(name="QA")
    assert held(qa) == {("mlmodels", "view_thresholdpolicy"), ("mlmodels", "override_gate")}
    assert Permission.objects.filter(codename="view_thresholdpolicy").count() == 1

    grant("plant", ["view_vehicle"], group="QA")[0](apps, schema_editor)
    backward(apps, schema_editor)

    assert held(Group.objects.get(name="QA")) == {("plant", "view_vehicle")}
    assert held(Group.objects.get(name=QUALITY_LEAD)) == QUALITY_LEAD_PERMISSIONS


def test_a_grant_of_an_unknown_permission_fails_loudly():
    forward, _ = grant("plant", ["change_inspectioncapacity"])  # predictions' model, not plant's

    with pytest.raises(LookupError, match=r"No permissions \['change_inspectioncapacity'\]"):
        forward(apps, SimpleNamespace(connection=connection))

    assert held(Group.objects.get(name=QUALITY_LEAD)) == QUALITY_LEAD_PERMISSIONS
