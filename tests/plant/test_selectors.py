"""Plant's reads: the fail groups' names and indicated tests, one query a read."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crossline.domain import FAIL_GROUPS, fail_group_label
from plant.models import FailGroup
from plant.selectors import get_fail_group_labels, get_indicated_tests

pytestmark = pytest.mark.django_db


def test_labels_use_the_names_the_team_edits_and_default_names_otherwise():
    FailGroup.objects.update_or_create(code=4, defaults={"name": "Doors and hinges"})
    FailGroup.objects.filter(code=5).delete()
    FailGroup.objects.create(code=77, name="Roof")

    with CaptureQueriesContext(connection) as queries:
        labels = get_fail_group_labels()

    assert len(queries) == 1
    assert fail_group_label(4, labels) == "4 Doors and hinges"
    assert fail_group_label(5, labels) == f"5 {FAIL_GROUPS[5]}"
    assert fail_group_label(77, labels) == "77 Roof"
    assert fail_group_label(12345, labels) == "12345"


def test_indicated_tests_are_read_per_code_or_for_every_group():
    FailGroup.objects.update_or_create(code=4, defaults={"inspections": ["Door water test"]})

    assert get_indicated_tests([4, 9999]) == {4: ["Door water test"]}
    assert set(get_indicated_tests()) == set(FailGroup.objects.values_list("code", flat=True))
