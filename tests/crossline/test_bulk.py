"""Plain-row inserts and updates store what the ORM would, on either database."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.utils.timezone import make_aware
from django.utils.timezone import now as django_now

from crossline.bulk import insert_columns, insert_rows, update_rows
from plant.models import Vehicle
from plant.times import aware_index

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


@pytest.mark.django_db
def test_columns_of_plant_times_read_back_as_each_time_made_aware():
    berlin = ZoneInfo("Europe/Berlin")
    # A time skipped and a time repeated by the clock changes, a fraction, a missing time.
    naive = np.array(["2024-03-31T02:30", "2024-10-27T02:30", "2024-05-16T13:21:03.120",
                      "NaT", "2024-01-01T00:00"], dtype="datetime64[ms]")
    # In UTC: an aware time in a gap or a fold never equals one of another zone.
    expected = [None if t is None else make_aware(t, berlin).astimezone(UTC)
                for t in naive.astype("datetime64[us]").tolist()]
    knrs = [f"2024-20000{i:02d}" for i in range(len(naive))]

    insert_columns(Vehicle, {"knr": knrs, "first_test_at": aware_index(naive, berlin)})

    stored = dict(Vehicle.objects.values_list("knr", "first_test_at"))
    assert [stored[knr] for knr in knrs] == expected
    # Stored in the database's own form: lookups on the times match, with or without fraction.
    assert Vehicle.objects.filter(first_test_at=expected[2]).count() == 1
    assert Vehicle.objects.filter(first_test_at=expected[4]).count() == 1
