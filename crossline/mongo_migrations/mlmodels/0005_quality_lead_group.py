# The "Quality lead" group: setting versions as active, overriding the gate, archiving and
# deleting versions, editing threshold policies, and seeing the registry's pages.

from django.db import migrations

from mlmodels.backfills import QUALITY_LEAD_GRANT


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0001_initial"),
        ("contenttypes", "0001_initial"),
        ("mlmodels", "0004_registry_keeps_what_predicted"),
    ]

    operations = [migrations.RunPython(*QUALITY_LEAD_GRANT)]
