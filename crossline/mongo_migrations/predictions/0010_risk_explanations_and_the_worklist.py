# Each prediction keeps its risk (the worklist's order) and why it was flagged; the worklist is a view
# of predictions with an admin page of its own, which the quality lead group reads.

from django.db import migrations, models

from predictions.backfills import WORKLIST_GRANT, noop, risk_of_earlier_predictions


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0001_initial'),
        ('contenttypes', '0001_initial'),
        ('predictions', '0009_quality_lead_group'),
    ]

    operations = [
        migrations.CreateModel(
            name='Worklist',
            fields=[
            ],
            options={
                'verbose_name': 'worklist',
                'verbose_name_plural': 'worklist',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('predictions.prediction',),
        ),
        migrations.AddField(
            model_name='prediction',
            name='explanation',
            field=models.JSONField(blank=True, default=list, help_text='The test results that raised the risk most, for a flagged vehicle.'),
        ),
        migrations.AddField(
            model_name='prediction',
            name='risk',
            field=models.FloatField(blank=True, db_index=True, help_text="Probability of at least one defect the inspections would find: the worklist's order. Empty when no model may predict it.", null=True),
        ),
        migrations.AddField(
            model_name='predictionhistory',
            name='risk',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='prediction',
            name='predicted_fail',
            field=models.BooleanField(db_index=True, help_text="On the worklist: among its production day's riskiest vehicles within the inspection capacity, or, with none set, the fail model or a fail-group model over its threshold.", verbose_name='flagged'),
        ),
        migrations.RunPython(risk_of_earlier_predictions, noop),
        migrations.RunPython(*WORKLIST_GRANT),
    ]
