"""Which database a kind of read goes to."""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

STATISTICS = "statistics"


def statistics_database() -> str:
    """The alias statistics and dashboards read from: a replica set's secondaries when
    CROSSLINE_STATISTICS_READ_PREFERENCE asks for them (counts a moment behind are fine
    there), else the default database."""
    return STATISTICS if STATISTICS in settings.DATABASES else DEFAULT_DB_ALIAS
