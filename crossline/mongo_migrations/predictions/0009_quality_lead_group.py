# Predictions' part of the "Quality lead" group: deleting a prediction, changing the inspection
# capacity (0008 gave it only to a group that existed then), and the predictions' pages.

from django.db import migrations

from predictions.backfills import QUALITY_LEAD_GRANT


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0001_initial"),
        ("contenttypes", "0001_initial"),
        ("predictions", "0008_inspection_capacity_and_labelling_window"),
    ]

    operations = [migrations.RunPython(*QUALITY_LEAD_GRANT)]
