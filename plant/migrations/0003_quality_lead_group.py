# Plant's part of the "Quality lead" group: deleting a dataset (its records, stored file, and
# the vehicles' data it brought), and the datasets' pages.

from django.db import migrations

from plant.backfills import QUALITY_LEAD_GRANT


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("plant", "0002_predictions_as_vehicles_arrive"),
    ]

    operations = [migrations.RunPython(*QUALITY_LEAD_GRANT)]
