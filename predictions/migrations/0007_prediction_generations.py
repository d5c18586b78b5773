# Predictions get generations: the compare-and-set key of a replacement, and the unique key of
# the history row that keeps a replaced prediction (a retried write adds no duplicate).

from django.db import migrations, models

from predictions.backfills import noop, number_prediction_history


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0006_indicated_tests_move_to_plant_fail_groups'),
    ]

    operations = [
        migrations.AddField(
            model_name='prediction',
            name='generation',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name='predictionhistory',
            name='generation',
            field=models.PositiveIntegerField(default=0, help_text="The replaced prediction's generation: one row per replacement."),
        ),
        migrations.RunPython(number_prediction_history, noop),
        migrations.AddConstraint(
            model_name='predictionhistory',
            constraint=models.UniqueConstraint(fields=('knr', 'generation'), name='one_history_row_per_replaced_prediction'),
        ),
    ]
