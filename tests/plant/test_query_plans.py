"""Lookups by KNR go through the KNR index: the vehicle page, the prediction's rows, the refresh."""

import json
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plant import imports, vehicles
from plant.demo import generate_demo_data
from plant.models import Vehicle, VehicleRecord
from plant.selectors import get_results_frame, get_vehicle_detail, list_records

RECORDS = VehicleRecord._meta.db_table


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return generate_demo_data(knrs=40, out_dir=tmp_path_factory.mktemp("demo"), seed=5)


@pytest.fixture
def imported(demo) -> list[str]:
    for kind in ("results", "defects"):
        imports.import_dataset(path=demo[kind], original_name=demo[kind].name, kind=kind)
    return list(Vehicle.objects.order_by("knr").values_list("knr", flat=True))


def sqlite_plans(run) -> list[str]:
    """EXPLAIN QUERY PLAN of every query on the records table that `run()` executes."""
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if RECORDS not in query["sql"] or not query["sql"].lstrip().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            plans.append(" / ".join(row[-1] for row in cursor.fetchall()))
    return plans


LOOKUPS = {
    "vehicle page": lambda knrs: get_vehicle_detail(knrs[0]),
    "prediction's rows": lambda knrs: get_results_frame(knrs[:3]),
    "vehicle refresh": lambda knrs: vehicles.refresh_vehicles(knrs[:5]),
    "new vehicles' check": lambda knrs: vehicles.known_elsewhere(knrs[0], knrs[4], dataset_id=0),
    "new vehicles' count": lambda knrs: vehicles.known_elsewhere(
        knrs[0], knrs[4], dataset_id=0, own_records=0
    ),
}


@pytest.mark.sqlite_only(reason="EXPLAIN QUERY PLAN is SQLite's; MongoDB's explain below")
@pytest.mark.django_db
@pytest.mark.parametrize("lookup", list(LOOKUPS))
@pytest.mark.parametrize("statistics", ["after an import", "none"])
def test_sqlite_reads_records_through_the_knr_index(lookup, statistics, imported):
    if statistics == "none":
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
            cursor.execute("ANALYZE sqlite_schema")  # the planner forgets what it had read

    plans = sqlite_plans(lambda: LOOKUPS[lookup](imported))

    assert plans, f"the {lookup} read no records"
    for plan in plans:
        # A count needs the index alone ("USING COVERING INDEX").
        assert re.search(f"SEARCH {RECORDS} USING (COVERING )?INDEX {RECORDS}_knr_", plan), plan
        assert f"SCAN {RECORDS}" not in plan, plan


@pytest.mark.sqlite_only(reason="statistics are SQLite's; MongoDB plans each query itself")
@pytest.mark.django_db
def test_an_import_leaves_sqlite_statistics_for_the_records_table(imported):
    with connection.cursor() as cursor:
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = %s", [RECORDS])
        indexes = {row[0] for row in cursor.fetchall()}

    assert any(name.startswith(f"{RECORDS}_knr_") for name in indexes), indexes


def winning_stages(plan: object) -> list[dict]:
    """Every stage of a real MongoDB explain's winning plans."""
    found = []
    if isinstance(plan, dict):
        if "stage" in plan:
            found.append(plan)
        for value in plan.values():
            found += winning_stages(value)
    elif isinstance(plan, list):
        for value in plan:
            found += winning_stages(value)
    return found


@pytest.mark.mongodb_only(reason="explain of the aggregation MongoDB runs; SQLite's above")
@pytest.mark.django_db
def test_mongodb_reads_records_by_knr_through_the_knr_index(imported):
    explained = json.loads(list_records(imported[:3]).values_list("knr", "rows_json").explain())

    indexes = {
        tuple(index["key"]) for index in connection.database[RECORDS].list_indexes()
    }
    assert ("knr",) in indexes
    if "queryPlanner" in json.dumps(explained):
        stages = winning_stages(explained)
        assert any(
            s["stage"] == "IXSCAN" and list(s.get("keyPattern", {})) == ["knr"] for s in stages
        ), stages
        assert not any(s["stage"] == "COLLSCAN" for s in stages), stages
    else:
        # mongoeco's memory engine scans every collection (it uses no index at all): what
        # can be checked there is that the only condition is on the indexed KNR.
        plan = json.dumps(explained)
        assert "InCondition(field='knr'" in plan, plan
        assert "dataset_id'" not in plan.split("'indexes'")[0], plan
