"""Plain-row inserts and updates store what the ORM would, on either database."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.utils.timezone import now as django_now

from crossline.bulk import insert_rows, update_rows
from training.models import Vehicle

FIELDS = ("knr", "first_test_at", "test_count", "has_defects", "fail_group_codes",
          "dataset_ids")
PLANT = timezone(timedelta(hours=-3))


def snapshot() -> list[tuple]:
    return list(Vehicle.objects.order_by("knr").values_list(*FIELDS, "updated_at"))


@pytest.mark.django_db
def test_inserted_rows_read_back_as_the_orm_writes_them():
    at = datetime(2024, 5, 16, 13, 21, 3, 120000, tzinfo=PLANT)
    rows = [
        ("2024-2000001", at, 40, True, ",2,4,", [1, 2]),
        ("2024-2000002", None, 0, False, "", []),
    ]
    before = django_now()

    insert_rows(Vehicle, FIELDS, rows)

    stored = snapshot()
    assert [row[:-1] for row in stored] == [
        ("2024-2000001", at.astimezone(UTC), 40, True, ",2,4,", [1, 2]),
        ("2024-2000002", None, 0, False, "", []),
    ]
    # Omitted fields hold what the ORM gives a new row: defaults, and now for auto_now.
    assert all(before - timedelta(seconds=1) <= row[-1] <= django_now() for row in stored)
    assert set(Vehicle.objects.values_list("nok_count", "defect_count")) == {(0, 0)}
    # Stored in the database's own form: lookups on the inserted times match.
    assert Vehicle.objects.filter(first_test_at=at).count() == 1
    assert Vehicle.objects.filter(first_test_at__lte=at).count() == 1


@pytest.mark.django_db
def test_updated_rows_change_only_the_given_vehicles():
    at = datetime(2024, 5, 16, 13, 21, 3, tzinfo=UTC)
    insert_rows(Vehicle, FIELDS, [
        ("2024-2000001", at, 40, False, "", [1]),
        ("2024-2000002", at, 10, False, "", [1]),
    ])
    first = Vehicle.objects.get(knr="2024-2000001")
    untouched = Vehicle.objects.get(knr="2024-2000002").updated_at
    later = at + timedelta(days=1)

    update_rows(Vehicle, ("test_count", "has_defects", "dataset_ids", "updated_at"),
                [(first.pk, 41, True, [1, 3], later)])

    assert snapshot() == [
        ("2024-2000001", at, 41, True, "", [1, 3], later),
        ("2024-2000002", at, 10, False, "", [1], untouched),
    ]
