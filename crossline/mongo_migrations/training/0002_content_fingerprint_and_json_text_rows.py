import json

from django.db import migrations, models


def rows_to_text(apps, schema_editor):
    """Existing records keep their rows, now as JSON text."""
    VehicleRecord = apps.get_model("training", "VehicleRecord")
    for record in VehicleRecord.objects.only("pk", "rows").iterator(chunk_size=1000):
        VehicleRecord.objects.filter(pk=record.pk).update(rows_json=json.dumps(record.rows))


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="content_sha256",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="vehiclerecord",
            name="rows_json",
            field=models.TextField(default="[]"),
        ),
        migrations.RunPython(rows_to_text, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="vehiclerecord",
            name="rows",
        ),
    ]
