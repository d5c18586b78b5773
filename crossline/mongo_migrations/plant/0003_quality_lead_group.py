# Plant's part of the "Quality lead" group: deleting a dataset (its records, stored file, and
# the vehicles' data it brought), and the datasets' pages.

from django.db import migrations

from plant.backfills import QUALITY_LEAD_GRANT


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0001_initial"),
        ("contenttypes", "0001_initial"),
        ("plant", "0002_predictions_as_vehicles_arrive"),
    ]

    operations = [migrations.RunPython(*QUALITY_LEAD_GRANT)]
