"""Trailing and period-to-date performance of a daily return series (pure functions).

Windows end at the series' last date ``as_of`` and hold the days strictly after
their start boundary:

* ``MTD`` / ``QTD`` / ``YTD``: days in the same calendar month / quarter / year as
  ``as_of``;
* ``1Y`` / ``3Y``: days after ``as_of`` minus one / three calendar years; NaN when
  the series starts later than that boundary (the history does not cover the window);
* ``SI`` (since inception): every day.

Return = compounded ``prod(1 + r) - 1``; Sharpe as in :mod:`poc.metrics`
(mean / std with ddof=1 x sqrt(252), docs/conventions.md), NaN with fewer than two days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc.metrics import sharpe_ratio

WINDOWS = ("MTD", "QTD", "YTD", "1Y", "3Y", "SI")


@dataclass(frozen=True)
class WindowStats:
    """Performance over one window."""

    window: str
    start: pd.Timestamp | None  # first day inside the window
    days: int
    total_return: float
    sharpe: float


def window_start_boundary(window: str, as_of: pd.Timestamp) -> pd.Timestamp | None:
    """The boundary after which a window's days lie (None for since inception).

    A day ``d`` belongs to the window when ``d > boundary``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if window == "MTD":
        return as_of.replace(day=1) - pd.Timedelta(days=1)
    if window == "QTD":
        first_month = 3 * ((as_of.month - 1) // 3) + 1
        return as_of.replace(month=first_month, day=1) - pd.Timedelta(days=1)
    if window == "YTD":
        return as_of.replace(month=1, day=1) - pd.Timedelta(days=1)
    if window == "1Y":
        return as_of - pd.DateOffset(years=1)
    if window == "3Y":
        return as_of - pd.DateOffset(years=3)
    if window == "SI":
        return None
    raise ValueError(f"unknown window {window!r}; known windows are {WINDOWS}")


def window_stats(returns: pd.Series, window: str) -> WindowStats:
    """Compounded return and Sharpe of ``returns`` (indexed by date) over ``window``."""
    returns = returns.dropna().sort_index()
    if returns.empty:
        return WindowStats(window, None, 0, np.nan, np.nan)
    as_of = returns.index[-1]
    boundary = window_start_boundary(window, as_of)
    if boundary is None:
        part = returns
    else:
        if window in ("1Y", "3Y") and returns.index[0] > boundary + pd.Timedelta(days=7):
            # The history starts well after the window's start: a 3Y figure from one
            # year of data would mislead, so it is not given (a week of slack lets a
            # series starting on the first trading day after a holiday count as full).
            return WindowStats(window, None, 0, np.nan, np.nan)
        part = returns[returns.index > boundary]
    values = part.to_numpy(dtype=float)
    total = float(np.prod(1.0 + values) - 1.0) if values.size else np.nan
    return WindowStats(
        window,
        part.index[0] if len(part) else None,
        int(values.size),
        total,
        float(sharpe_ratio(values)),
    )


def trailing_table(returns: pd.Series, windows: tuple[str, ...] = WINDOWS) -> pd.DataFrame:
    """One row per window: ``window, start, days, total_return, sharpe``."""
    rows = [window_stats(returns, w) for w in windows]
    return pd.DataFrame([r.__dict__ for r in rows])


def nav_from_returns(returns: np.ndarray, start_nav: float = 100.0) -> np.ndarray:
    """NAV after each day: ``start_nav * cumprod(1 + r)``."""
    return start_nav * np.cumprod(1.0 + np.asarray(returns, dtype=float))
