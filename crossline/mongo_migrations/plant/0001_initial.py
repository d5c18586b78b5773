# Datasets, vehicles and their records move here from the training app: their tables stay
# as they are (`db_table`), only Django's state and the content types change app. The fail
# groups are new (predictions' indicated tests move into them: its migration 0006).

import django.db.models.deletion
import django_mongodb_backend.fields
from django.conf import settings
from django.db import migrations, models

from plant.backfills import give_content_types_back_to_training, take_content_types_from_training
from plant.defaults import add_default_fail_groups, remove_default_fail_groups


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0001_initial"),
        ("training", "0004_dataset_queued_imports_and_heartbeat"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Vehicle',
                    fields=[
                        ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('knr', models.CharField(max_length=12, unique=True, verbose_name='KNR')),
                        ('first_test_at', models.DateTimeField(blank=True, db_index=True, null=True)),
                        ('last_test_at', models.DateTimeField(blank=True, null=True)),
                        ('test_count', models.PositiveIntegerField(default=0)),
                        ('nok_count', models.PositiveIntegerField(default=0)),
                        ('defect_count', models.PositiveIntegerField(default=0)),
                        ('has_defects', models.BooleanField(db_index=True, default=False)),
                        ('fail_group_codes', models.CharField(blank=True, default='', max_length=255)),
                        ('dataset_ids', models.JSONField(blank=True, default=list)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'training_vehicle',
                        'ordering': ['knr'],
                    },
                ),
                migrations.CreateModel(
                    name='Dataset',
                    fields=[
                        ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('results', 'Test results'), ('defects', 'Defects')], max_length=10)),
                        ('original_name', models.CharField(max_length=255)),
                        ('size_bytes', models.BigIntegerField()),
                        ('sha256', models.CharField(max_length=64, unique=True)),
                        ('content_sha256', models.CharField(blank=True, db_index=True, default='', max_length=64)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('importing', 'Importing'), ('ready', 'Ready'), ('failed', 'Failed')], default='importing', max_length=10)),
                        ('progress', models.PositiveSmallIntegerField(default=0)),
                        ('rows_read', models.BigIntegerField(default=0)),
                        ('rows_accepted', models.BigIntegerField(default=0)),
                        ('rows_rejected', models.BigIntegerField(default=0)),
                        ('rows_dropped', models.BigIntegerField(default=0)),
                        ('values_unparseable', models.BigIntegerField(default=0)),
                        ('knr_count', models.PositiveIntegerField(default=0)),
                        ('first_at', models.DateTimeField(blank=True, null=True)),
                        ('last_at', models.DateTimeField(blank=True, null=True)),
                        ('report', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True)),
                        ('file', models.CharField(blank=True, help_text='Parquet file in storage.', max_length=255)),
                        ('source_file', models.CharField(blank=True, help_text='The upload in storage, until a worker imports it.', max_length=255)),
                        ('task_id', models.CharField(blank=True, max_length=64)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('uploaded_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('uploaded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'training_dataset',
                        'ordering': ['-uploaded_at'],
                    },
                ),
                migrations.CreateModel(
                    name='VehicleRecord',
                    fields=[
                        ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('knr', models.CharField(db_index=True, max_length=12, verbose_name='KNR')),
                        ('kind', models.CharField(choices=[('results', 'Test results'), ('defects', 'Defects')], max_length=10)),
                        ('first_at', models.DateTimeField(null=True)),
                        ('last_at', models.DateTimeField(null=True)),
                        ('row_count', models.PositiveIntegerField()),
                        ('nok_count', models.PositiveIntegerField(default=0)),
                        ('fail_group_codes', models.CharField(blank=True, default='', max_length=255)),
                        ('columns', models.JSONField(default=list)),
                        ('rows_json', models.TextField(default='[]')),
                        ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='records', to='plant.dataset')),
                    ],
                    options={
                        'db_table': 'training_vehiclerecord',
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(take_content_types_from_training, give_content_types_back_to_training),
        migrations.CreateModel(
            name='FailGroup',
            fields=[
                ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.IntegerField(help_text='S_GROUP_ID in the defect exports.', unique=True)),
                ('name', models.CharField(help_text='The name people see beside the code.', max_length=100)),
                ('inspections', models.JSONField(default=list, help_text='Inspection names, in order.')),
            ],
            options={
                'ordering': ['code'],
            },
        ),
        migrations.RunPython(add_default_fail_groups, remove_default_fail_groups),
    ]
