"""Records written row by row (before plant 0004) are rewritten column by column, values kept."""

import importlib
import json

import pytest
from django.apps import apps

from plant.models import Dataset, VehicleRecord
from plant.readers.records import plant_time_text

migration = importlib.import_module("plant.migrations.0004_record_rows_by_column")
COLUMNS = ["NAME", "ID", "STATUS", "UNIT", "VALUE_ID", "VALUE", "DATA"]
ROWS = [
    ["SECTION_ZP8_00000001", 2, 13, "Nm", 1.0, 12.743, "2024-05-16 13:21:03.000"],
    ["042000", 718, 10, None, None, None, "2024-05-16 13:22:00.250"],
]


@pytest.mark.django_db
def test_a_record_of_rows_is_rewritten_by_column_with_every_value_and_only_once():
    dataset = Dataset.objects.create(kind="results", original_name="old.csv", size_bytes=1,
                                     sha256="0" * 64, status=Dataset.Status.READY)
    old = VehicleRecord.objects.create(knr="2024-0000001", dataset=dataset, kind="results",
                                       row_count=2, columns=COLUMNS)
    VehicleRecord.objects.filter(pk=old.pk).update(rows_json=json.dumps(ROWS))
    new = VehicleRecord.objects.create(knr="2024-0000002", dataset=dataset, kind="results",
                                       row_count=1, columns=COLUMNS[:1], rows=[["A"]])

    migration.rows_by_column(apps, None)
    migration.rows_by_column(apps, None)  # again, as after an interrupted run: nothing changes

    old.refresh_from_db()
    assert old.rows_json.startswith("{")
    converted = old.rows
    assert [row[:-1] for row in converted] == [row[:-1] for row in ROWS]
    assert [plant_time_text(row[-1]) for row in converted] == [row[-1] for row in ROWS]
    assert VehicleRecord.objects.get(pk=new.pk).rows == [["A"]]
