# The indicated tests and the names the team gave the fail groups (zones) move to plant's
# fail groups, rows and primary keys as they were; the table of indicated tests goes.

from django.db import migrations

from predictions.backfills import move_fail_groups_back, move_indicated_tests_to_fail_groups


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("plant", "0001_initial"),
        ("predictions", "0005_flagged_by_help_text"),
    ]

    operations = [
        migrations.RunPython(move_indicated_tests_to_fail_groups, move_fail_groups_back),
        migrations.DeleteModel(name="IndicatedTest"),
    ]
