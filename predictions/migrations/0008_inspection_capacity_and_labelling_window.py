# The plant's inspection capacity and labelling window (one row, its change permission for the
# quality lead group), and the feedback earlier versions missed: defects imported before a
# vehicle was predicted.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from predictions.backfills import (
    create_inspection_capacity,
    fill_feedback_recorded_before_prediction,
    noop,
)


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('plant', '0001_initial'),
        ('predictions', '0007_prediction_generations'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='InspectionCapacity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(default='plant', editable=False, max_length=10, unique=True)),
                ('share', models.FloatField(blank=True, help_text="Share of each production day's vehicles the team inspects, in (0, 1]: 0.2 means 20%.", null=True)),
                ('vehicles_per_day', models.PositiveIntegerField(blank=True, help_text='Or: vehicles the team inspects per production day.', null=True)),
                ('label_window_days', models.PositiveIntegerField(blank=True, help_text="Days after a vehicle's last test within which a defect counts; later, no defect recorded means defect-free. Empty: the setting CROSSLINE_LABEL_WINDOW_DAYS.", null=True)),
                ('updated_at', models.DateTimeField(blank=True, null=True)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'inspection capacity',
                'verbose_name_plural': 'inspection capacity',
            },
        ),
        migrations.RunPython(create_inspection_capacity, noop),
        migrations.RunPython(fill_feedback_recorded_before_prediction, noop),
    ]
