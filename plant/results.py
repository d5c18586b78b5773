"""What one test result is: the key that makes two result rows the same result.

Plain Python (no Django): the readers, the vehicle counts and training's features share it.
"""

from collections.abc import Iterable
from typing import Any

# One vehicle, one test (NAME within its family ID), one sub-result (VALUE_ID), at one time.
# Overlapping exports repeat rows with this key; a retest of the same test later is a new result.
RESULT_KEY = ("KNR", "NAME", "ID", "VALUE_ID", "DATA")
STATUS_OK = 10
STATUS_NOK = 13


def count_results(records: Iterable[dict[str, list[Any]]]) -> tuple[int, int]:
    """(results, NOK results) of one vehicle's records, each given by column (name → values),
    each result key counted once."""
    seen: set[tuple[Any, ...]] = set()
    nok = 0
    for values in records:
        blank = [None] * len(next(iter(values.values()), []))
        keys = zip(*(values.get(column) or blank for column in RESULT_KEY), strict=True)
        for key, status in zip(keys, values.get("STATUS") or blank, strict=True):
            if key not in seen:
                seen.add(key)
                nok += status == STATUS_NOK
    return len(seen), nok
