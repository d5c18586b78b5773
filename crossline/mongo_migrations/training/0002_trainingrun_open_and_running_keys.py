# The unique keys that keep identical training runs from being queued twice and let one run
# at a time: existing runs get a key of their own before the keys become unique.

from django.db import migrations, models

import training.models


def give_each_run_its_own_keys(apps, schema_editor):
    TrainingRun = apps.get_model("training", "TrainingRun")
    for pk in TrainingRun.objects.values_list("pk", flat=True):
        TrainingRun.objects.filter(pk=pk).update(
            open_key=f"closed-{pk}", running_key=f"closed-{pk}"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="open_key",
            field=models.CharField(editable=False, max_length=80, null=True),
        ),
        migrations.AddField(
            model_name="trainingrun",
            name="running_key",
            field=models.CharField(editable=False, max_length=80, null=True),
        ),
        migrations.RunPython(give_each_run_its_own_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="trainingrun",
            name="open_key",
            field=models.CharField(
                default=training.models.new_run_key, editable=False, max_length=80, unique=True
            ),
        ),
        migrations.AlterField(
            model_name="trainingrun",
            name="running_key",
            field=models.CharField(
                default=training.models.new_run_key, editable=False, max_length=80, unique=True
            ),
        ),
    ]
