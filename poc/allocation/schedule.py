"""Rebalance schedules on a trading calendar.

A rebalance (signal) date is a trading date on which a model computes target
weights at the close: every date (``daily``), the first trading date of each
ISO week (``weekly``) or of each calendar month (``monthly``), as defined by
:mod:`poc.calendar`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from poc.allocation.errors import AllocationError
from poc.calendar import month_starts, week_starts

Rebalance = Literal["daily", "weekly", "monthly"]
REBALANCE_CHOICES = ("daily", "weekly", "monthly")


def check_rebalance(rebalance: str) -> str:
    """Return ``rebalance`` if it is one of ``daily, weekly, monthly``, else raise."""
    if rebalance not in REBALANCE_CHOICES:
        raise AllocationError(f"rebalance must be one of {REBALANCE_CHOICES}, got {rebalance!r}")
    return rebalance


def rebalance_mask(dates: pd.DatetimeIndex, rebalance: Rebalance) -> np.ndarray:
    """Boolean mask over ``dates``: True on rebalance dates.

    Parameters
    ----------
    dates : DatetimeIndex
        Sorted trading dates.
    rebalance : {"daily", "weekly", "monthly"}

    Returns
    -------
    numpy.ndarray of bool
    """
    check_rebalance(rebalance)
    calendar = pd.DatetimeIndex(dates).values.astype("datetime64[ns]")
    if rebalance == "daily":
        return np.ones(len(calendar), dtype=bool)
    if rebalance == "weekly":
        return week_starts(calendar)
    return month_starts(calendar)
