# A batch counts its starts: a worker that stopped mid-run leaves it to be started again.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('predictions', '0011_batch_of_chosen_knrs'),
    ]

    operations = [
        migrations.AddField(
            model_name='batchprediction',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Times a worker started this batch; above 1, the worker running it stopped and another started it again.'),
        ),
    ]
