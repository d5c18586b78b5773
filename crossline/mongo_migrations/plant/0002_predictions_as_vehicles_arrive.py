# A results import says what became of its vehicles: predicted as they arrived, or why not.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('plant', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='dataset',
            name='predicted_count',
            field=models.PositiveIntegerField(blank=True, help_text='Vehicles of this import predicted as they arrived.', null=True),
        ),
        migrations.AddField(
            model_name='dataset',
            name='predictions',
            field=models.CharField(blank=True, default='', help_text='“1,250 vehicles predicted”, or why not (“no active model”).', max_length=255),
        ),
    ]
