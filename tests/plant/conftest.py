"""Vehicles on both edges of a month, in a time zone whose offset changes within it."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from plant.models import Vehicle

PLANT_ZONE = "Europe/Berlin"


@dataclass(frozen=True)
class MonthEdges:
    month: str  # YYYY-MM, as the filters take it
    inside: set[str]  # KNRs first tested in the month, on its first and last second
    outside: set[str]  # on the last second before it and the first second after it


@pytest.fixture
def month_edges(db, settings) -> MonthEdges:
    """March 2024 in Berlin: it starts at 23:00 UTC on 29 February (CET, +1) and ends at 22:00
    UTC on 31 March (CEST, +2), so a month cut in UTC, or one bound left out or off by a second,
    puts a vehicle on the wrong side."""
    settings.TIME_ZONE = PLANT_ZONE
    zone = ZoneInfo(PLANT_ZONE)
    first_tests = {
        "2024-0000001": datetime(2024, 2, 29, 23, 59, 59, tzinfo=zone),  # February's last second
        "2024-0000002": datetime(2024, 3, 1, 0, 0, 0, tzinfo=zone),  # March's first
        "2024-0000003": datetime(2024, 3, 31, 23, 59, 59, tzinfo=zone),  # March's last
        "2024-0000004": datetime(2024, 4, 1, 0, 0, 0, tzinfo=zone),  # April's first
    }
    for knr, first_test in first_tests.items():
        Vehicle.objects.create(knr=knr, first_test_at=first_test, last_test_at=first_test)
    return MonthEdges(
        month="2024-03",
        inside={"2024-0000002", "2024-0000003"},
        outside={"2024-0000001", "2024-0000004"},
    )
