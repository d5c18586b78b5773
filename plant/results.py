"""What one test result is: the key that makes two result rows the same result.

Plain Python (no Django): the readers, the vehicle counts and training's features share it.
"""

from typing import Any

# One vehicle, one test (NAME within its family ID), one sub-result (VALUE_ID), at one time.
# Overlapping exports repeat rows with this key; a retest of the same test later is a new result.
RESULT_KEY = ("KNR", "NAME", "ID", "VALUE_ID", "DATA")
STATUS_OK = 10
STATUS_NOK = 13


def count_results(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(results, NOK results) of one vehicle's rows, each result key counted once."""
    seen: set[tuple[Any, ...]] = set()
    nok = 0
    for row in rows:
        key = tuple(row.get(column) for column in RESULT_KEY)
        if key not in seen:
            seen.add(key)
            nok += row.get("STATUS") == STATUS_NOK
    return len(seen), nok
