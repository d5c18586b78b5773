from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0002_content_fingerprint_and_json_text_rows"),
        ("training", "0002_trainingrun_open_and_running_keys"),
    ]

    operations = []
