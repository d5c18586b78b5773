from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_match_the_models_on_this_database():
    # Run once per backend by `make test`: the SQLite migrations and the MongoDB ones
    # (crossline/mongo_migrations) must both be in step with the models.
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"makemigrations found changes (exit {exit_.code}):\n{out.getvalue()}")
