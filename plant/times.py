"""Plant timestamps are naive, in the plant's time zone (TIME_ZONE): made aware for storage,
value by value or column by column (as `make_aware` would, clock changes included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone


def plausible_dates() -> tuple[datetime, datetime]:
    """The window of plausible plant timestamps (naive, in TIME_ZONE) for an import now."""
    latest = timezone.localtime().replace(tzinfo=None)
    return settings.CROSSLINE_EARLIEST_DATE, latest + timedelta(
        days=settings.CROSSLINE_DAYS_AHEAD
    )


def aware(value: Any) -> datetime | None:
    """A naive plant timestamp (numpy or pandas) as an aware datetime in TIME_ZONE."""
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value).to_pydatetime()
    return timezone.make_aware(stamp, timezone.get_default_timezone())


def aware_list(stamps: np.ndarray, tz: Any) -> list[datetime | None]:
    """Naive datetime64 plant times as aware datetimes in TIME_ZONE."""
    return [
        None if value is None else timezone.make_aware(value, tz)
        for value in stamps.astype("datetime64[us]").tolist()
    ]


def aware_index(stamps: np.ndarray, tz: Any) -> pd.DatetimeIndex:
    """Naive datetime64 plant times as an aware DatetimeIndex, as `make_aware` reads each."""
    naive = pd.DatetimeIndex(np.asarray(stamps).astype("datetime64[us]"))
    aware = naive.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    odd = np.flatnonzero(aware.isna() & ~naive.isna())
    if not odd.size:
        return aware
    # A time repeated or skipped by a clock change: taken value by value, as make_aware does.
    utc = aware.tz_convert(UTC).tz_localize(None).to_numpy().copy()
    for i in odd.tolist():
        moment = timezone.make_aware(naive[i].to_pydatetime(), tz).astimezone(UTC)
        utc[i] = np.datetime64(moment.replace(tzinfo=None), "us")
    return pd.DatetimeIndex(utc).tz_localize(UTC).tz_convert(tz)
