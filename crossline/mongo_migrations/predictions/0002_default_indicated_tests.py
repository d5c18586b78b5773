"""Default inspections for the eight fail groups (predictions/backfills.py)."""

from django.db import migrations

from predictions.backfills import add_default_indicated_tests, remove_default_indicated_tests


class Migration(migrations.Migration):

    dependencies = [
        ("predictions", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(add_default_indicated_tests, remove_default_indicated_tests),
    ]
