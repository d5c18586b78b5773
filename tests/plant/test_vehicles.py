"""The vehicle refresh's check for KNRs known beyond the import that is finishing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plant.models import Dataset, Vehicle, VehicleRecord
from plant.vehicles import known_elsewhere

KNRS = ["2024-0000001", "2024-0000002", "2024-0000003"]


def dataset(name: str, status: str) -> Dataset:
    return Dataset.objects.create(kind="results", original_name=name, size_bytes=1,
                                  sha256=name.ljust(64, "0"), status=status)


def records(owner: Dataset, knrs: list[str]) -> None:
    for knr in knrs:
        VehicleRecord.objects.create(knr=knr, dataset=owner, kind="results", row_count=1,
                                     columns=["NAME"], rows=[["A"]])


@pytest.mark.django_db
def test_records_of_another_import_in_the_range_are_known_elsewhere():
    mine = dataset("mine", Dataset.Status.IMPORTING)
    running = dataset("running", Dataset.Status.IMPORTING)  # no vehicle yet
    records(mine, KNRS)
    records(running, KNRS[1:2])
    Vehicle.objects.create(knr=KNRS[2])

    found = known_elsewhere(KNRS[0], KNRS[-1], dataset_id=mine.pk, own_records=3)

    assert found == {KNRS[1], KNRS[2]}


@pytest.mark.django_db
def test_a_range_holding_only_the_imports_own_records_is_counted_not_read_back():
    mine = dataset("mine", Dataset.Status.IMPORTING)
    records(mine, KNRS)

    with CaptureQueriesContext(connection) as captured:
        found = known_elsewhere(KNRS[0], KNRS[-1], dataset_id=mine.pk, own_records=3)

    assert found == set()
    reads = [q["sql"] for q in captured.captured_queries if "dataset_id" in q["sql"]]
    assert reads == [], reads  # no record's dataset was read: the count settled it
    assert len(captured.captured_queries) == 2  # the records' count, the vehicles
