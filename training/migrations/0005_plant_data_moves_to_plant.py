# Datasets, vehicles and their records belong to the plant app now (its migration 0001 took
# them over, tables unchanged): they leave training's state only, nothing is dropped.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0004_dataset_queued_imports_and_heartbeat"),
        ("plant", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="VehicleRecord"),
                migrations.DeleteModel(name="Vehicle"),
                migrations.DeleteModel(name="Dataset"),
            ],
            database_operations=[],
        ),
    ]
