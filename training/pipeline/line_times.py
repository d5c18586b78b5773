"""When a vehicle was on the line, from its test times: the feature builder's time columns."""

import numpy as np

TIMES = ("hour", "weekday", "shift", "shift_minutes", "line_minutes")
# The line runs three 8-hour shifts from 06:00.
SHIFT_START_HOUR = 6
SHIFT_HOURS = 8


def line_times(dates: np.ndarray, k: np.ndarray, n: int) -> np.ndarray:
    """Per vehicle (codes `k` in [0, n)), the `TIMES` columns from its rows' test times
    (datetime64, NaT where missing): calendar fields of its first test, minutes to its last."""
    stamps = dates.astype("datetime64[s]").astype("int64").astype(np.float64)
    stamps[np.isnat(dates)] = np.nan
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.fmin.at(first, k, stamps)
    np.fmax.at(last, k, stamps)
    first[np.isinf(first)] = np.nan
    last[np.isinf(last)] = np.nan
    # Calendar fields by arithmetic on seconds since 1970-01-01, a Thursday: pandas'
    # datetime accessors were a millisecond of a one-vehicle prediction. Same values.
    days = np.floor(first / 86400)
    seconds = first - days * 86400
    hour = np.floor(seconds / 3600) + np.floor(seconds % 3600 / 60) / 60
    since_shift = (hour - SHIFT_START_HOUR) % 24
    return np.column_stack(
        [
            hour,
            (days + 3) % 7,
            since_shift // SHIFT_HOURS,
            (since_shift % SHIFT_HOURS) * 60,
            (last - first) / 60,
        ]
    )
