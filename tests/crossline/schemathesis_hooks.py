"""What the contract test tells schemathesis that an OpenAPI schema cannot say.

Loaded by the schemathesis command (`SCHEMATHESIS_HOOKS`). Only schema-valid ("positive") cases
are changed, so that the check that valid input is accepted (`positive_data_acceptance`) judges
the API, not chance; invalid cases stay as generated.

- An upload's file must be a plant export: its bytes become a real export of the kind the case
  names (a test-results export for a batch). A schema says "binary", never "a CSV export".
- `month` of the statistics routes needs `year`: OpenAPI 3.0 has no way to make one query
  parameter depend on another, so a case without a year leaves the month out.
- The worklist's `to` is the last day of a range starting at `date`: a case whose `to` is not
  on or after its `date` (or has no `date`) leaves `to` out.
- The inspection capacity is a share or a number of vehicles per day, never both: a case giving
  both keeps the share.
"""

import os
from pathlib import Path

import schemathesis

# Folder of real exports, `results.csv` and `defects.csv` (the contract test writes them).
EXPORTS_ENV = "CROSSLINE_CONTRACT_EXPORTS"
UPLOADS = {"/api/datasets/", "/api/predictions/batch/"}
MONTH_NEEDS_YEAR = {"/api/predictions/fail-codes-predicted/", "/api/predictions/total-fails/"}
WORKLIST = "/api/worklist/"
CAPACITY = "/api/inspection-capacity/"


def export(kind: str) -> bytes:
    return (Path(os.environ[EXPORTS_ENV]) / f"{kind}.csv").read_bytes()


@schemathesis.hook
def map_case(context, case):
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    path = case.operation.path
    if path in UPLOADS and isinstance(case.body, dict) and "file" in case.body:
        case.body["file"] = export(case.body.get("kind", "results"))
    if path in MONTH_NEEDS_YEAR and "month" in case.query and "year" not in case.query:
        del case.query["month"]
    if path == WORKLIST and "to" in case.query and not (
        "date" in case.query and str(case.query["to"]) >= str(case.query["date"])
    ):
        del case.query["to"]
    if (
        path == CAPACITY
        and isinstance(case.body, dict)
        and case.body.get("share") is not None
        and case.body.get("vehicles_per_day") is not None
    ):
        del case.body["vehicles_per_day"]
    return case
