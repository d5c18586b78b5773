# A batch may be the vehicles chosen in the predictions list ("Predict again"), predicted on a worker.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0010_risk_explanations_and_the_worklist'),
    ]

    operations = [
        migrations.AddField(
            model_name='batchprediction',
            name='knrs',
            field=models.JSONField(blank=True, default=list, help_text='The KNRs chosen in the predictions list.'),
        ),
    ]
