import json
from datetime import datetime, timedelta

from django.db import migrations, models, transaction

BATCH = 500
EPOCH = datetime(1970, 1, 1)


def milliseconds(text):
    """A stored DATA text ("2024-05-16 13:21:03.000", naive plant time) in ms since 1970."""
    if text is None:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is not None:
        raise ValueError(f"a record holds a time with a zone: {text!r}")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def by_column(columns, rows):
    """Rows (lists in `columns` order) as the object of columns records now hold."""
    values = {name: [row[i] if i < len(row) else None for row in rows]
              for i, name in enumerate(columns)}
    if "DATA" in values:
        values["DATA"] = [milliseconds(text) for text in values["DATA"]]
    return values


def rows_by_column(apps, schema_editor):
    """Existing records keep their rows, now column by column with DATA in milliseconds.

    Batch by batch, each record on its own (no transaction needed: a record already written
    by columns is left as it is, so running this again after an interruption finishes it).
    """
    VehicleRecord = apps.get_model("plant", "VehicleRecord")
    pks = list(VehicleRecord.objects.order_by("pk").values_list("pk", flat=True))
    for begin in range(0, len(pks), BATCH):
        batch = VehicleRecord.objects.filter(pk__in=pks[begin : begin + BATCH])
        # One transaction per batch on SQLite (speed only: MongoDB has none and needs none).
        with transaction.atomic():
            for pk, columns, text in batch.values_list("pk", "columns", "rows_json"):
                if text.lstrip().startswith("{"):
                    continue
                converted = json.dumps(by_column(columns, json.loads(text)))
                VehicleRecord.objects.filter(pk=pk).update(rows_json=converted)


class Migration(migrations.Migration):
    # Batches of their own: a large installation's records are not rewritten in one transaction.
    atomic = False

    dependencies = [
        ("plant", "0003_quality_lead_group"),
    ]

    operations = [
        # The default lives in Python only: the table is not rebuilt for it.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="vehiclerecord",
                    name="rows_json",
                    field=models.TextField(default="{}"),
                ),
            ],
        ),
        migrations.RunPython(rows_by_column, migrations.RunPython.noop),
    ]
