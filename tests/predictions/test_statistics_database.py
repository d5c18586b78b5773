"""Statistics and the dashboard read where statistics are read: a replica set's secondaries
when CROSSLINE_STATISTICS_READ_PREFERENCE asks for them."""

from types import SimpleNamespace

import pytest
from django.db.utils import ConnectionDoesNotExist

from crossline import databases
from predictions import selectors

STATISTICS_READS = {
    "fail codes predicted": lambda: selectors.count_predicted_fail_codes(),
    "total fails": lambda: selectors.count_total_fails(),
    "fail codes by month": lambda: selectors.count_fail_codes_by_month(year=2024),
    "dashboard summary": lambda: selectors.get_prediction_summary(),
    "dashboard monthly chart": lambda: selectors.count_predicted_and_real_by_production_month(),
}


@pytest.mark.django_db
@pytest.mark.parametrize("read", STATISTICS_READS.values(), ids=STATISTICS_READS.keys())
def test_statistics_read_from_the_statistics_database(monkeypatch, read):
    monkeypatch.setattr(selectors, "statistics_database", lambda: "a-replica")
    with pytest.raises(ConnectionDoesNotExist, match="a-replica"):
        read()


def test_the_statistics_database_is_the_default_one_unless_configured(monkeypatch):
    assert databases.statistics_database() == "default"
    configured = SimpleNamespace(DATABASES={"default": {}, "statistics": {}})
    monkeypatch.setattr(databases, "settings", configured)
    assert databases.statistics_database() == "statistics"
