"""Trading-calendar helpers.

A calendar is a sorted, unique ``numpy.datetime64[ns]`` array of trading dates
(the snapshot's ``calendar`` file). All date arithmetic in the package is done
in trading-day positions on that array, never in calendar days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_calendar(dates) -> np.ndarray:
    """Return ``dates`` as a sorted, unique ``datetime64[ns]`` array of midnights.

    Parameters
    ----------
    dates : array-like of dates

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]``, strictly increasing.
    """
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).normalize()
    return np.unique(index.values.astype("datetime64[ns]"))


def first_on_or_after(calendar: np.ndarray, dates) -> np.ndarray:
    """Position of the first trading date on or after each of ``dates``.

    Parameters
    ----------
    calendar : numpy.ndarray
        Sorted ``datetime64[ns]`` trading dates.
    dates : array-like of datetime64
        Dates to place (time of day is ignored).

    Returns
    -------
    numpy.ndarray of int64
        Positions into ``calendar``; ``len(calendar)`` where a date falls after
        the last trading date.
    """
    values = pd.DatetimeIndex(dates).normalize().values.astype("datetime64[ns]")
    return np.searchsorted(calendar, values, side="left").astype(np.int64)


def positions_of(calendar: np.ndarray, dates) -> np.ndarray:
    """Exact positions of ``dates`` in ``calendar``; -1 where a date is not a trading date."""
    values = pd.DatetimeIndex(dates).normalize().values.astype("datetime64[ns]")
    pos = np.searchsorted(calendar, values, side="left")
    inside = pos < len(calendar)
    found = np.zeros(len(values), dtype=bool)
    found[inside] = calendar[pos[inside]] == values[inside]
    return np.where(found, pos, -1).astype(np.int64)


def week_starts(calendar: np.ndarray) -> np.ndarray:
    """Boolean mask: True on the first trading date of each ISO week."""
    return _period_starts(calendar, "W")


def month_starts(calendar: np.ndarray) -> np.ndarray:
    """Boolean mask: True on the first trading date of each calendar month."""
    return _period_starts(calendar, "M")


def _period_starts(calendar: np.ndarray, unit: str) -> np.ndarray:
    if len(calendar) == 0:
        return np.zeros(0, dtype=bool)
    if unit == "W":
        # datetime64 weeks start on Thursday (the epoch); shift so they start on Monday.
        key = (calendar.astype("datetime64[D]").astype(np.int64) + 3) // 7
    else:
        key = calendar.astype("datetime64[M]").astype(np.int64)
    starts = np.ones(len(calendar), dtype=bool)
    starts[1:] = key[1:] != key[:-1]
    return starts
