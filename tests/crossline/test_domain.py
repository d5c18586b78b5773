import pytest

from crossline.domain import (
    FAIL_GROUPS,
    FAIL_KIND,
    KNR_RE,
    fail_group_label,
    fail_group_labels,
    fail_group_of,
    frame_codes,
    group_kind,
    parse_framed_codes,
    parse_month,
)
from predictions.models import IndicatedTest


def test_a_group_kind_names_its_fail_group_and_the_fail_kind_none():
    assert group_kind(9830946) == "group_9830946"
    assert fail_group_of(group_kind(4)) == 4
    assert fail_group_of(FAIL_KIND) is None


def test_framed_codes_read_back_as_the_sorted_unique_codes():
    assert frame_codes([4, 2, 4]) == ",2,4,"
    assert parse_framed_codes(frame_codes([137, 2])) == [2, 137]
    assert frame_codes([]) == "" and parse_framed_codes("") == []


@pytest.mark.parametrize(
    ("text", "month"),
    [("2024-02", (2024, 2)), (" 2024-12 ", (2024, 12)), ("2024-13", None), ("2024-2", None)],
)
def test_a_month_is_read_only_as_yyyy_mm(text, month):
    assert parse_month(text) == month


def test_a_knr_is_four_digits_a_dash_and_seven_digits():
    assert KNR_RE.fullmatch("2024-0000001")
    assert not KNR_RE.fullmatch("2024-000001")


@pytest.mark.django_db
def test_labels_use_the_names_the_team_edits_and_default_names_otherwise():
    # The default rows come from a data migration, which a MongoDB test database may not keep.
    IndicatedTest.objects.filter(fail_group=4).delete()
    IndicatedTest.objects.create(fail_group=4, zone="Doors and hinges")
    IndicatedTest.objects.filter(fail_group=5).delete()
    IndicatedTest.objects.create(fail_group=77, zone="Roof")

    labels = fail_group_labels()
    assert fail_group_label(4) == "4 Doors and hinges"
    assert fail_group_label(5, labels) == f"5 {FAIL_GROUPS[5]}"
    assert fail_group_label(77, labels) == "77 Roof"
    assert fail_group_label(12345, labels) == "12345"
