"""The tables of a backtest result: daily P&L, deciles and the summary.

* :func:`daily_frame`: one book's daily table, from its first to its last day
  with a position (see :class:`poc.engine.BacktestResult`).
* :func:`decile_block` / :func:`decile_table`: per decile of each day's
  signal, the pooled mean return earned, the hit rate (share of days the
  decile's mean return beat the day's cross-sectional mean) and the count.
* :func:`summary_table`: :func:`poc.metrics.summarize` of the net returns,
  overall, per calendar year and per market-cap tercile, all annualized with
  252 periods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from poc import metrics
from poc.books import BookSeries

DAILY_COLUMNS = (
    "date", "long", "short", "gross", "cost", "net", "turnover",
    "n_long", "n_short", "n_names", "cumulative", "drawdown",
)  # fmt: skip
N_DECILES = 10


def daily_frame(dates: np.ndarray, series: BookSeries, book: int) -> pd.DataFrame:
    """One book's daily table, from its first to its last day with a position."""
    active = np.flatnonzero(series.n_long[book] > 0)
    part = slice(active[0], active[-1] + 1) if active.size else slice(0, 0)
    long = series.long[book, part]
    short = series.short[book, part]
    cost = series.cost[book, part]
    net = long - short - cost
    return pd.DataFrame(
        {
            "date": dates[part],
            "long": long,
            "short": short,
            "gross": long - short,
            "cost": cost,
            "net": net,
            "turnover": series.turnover[book, part],
            "n_long": series.n_long[book, part],
            "n_short": series.n_short[book, part],
            "n_names": series.n_names[book, part],
            "cumulative": np.cumprod(1.0 + net) - 1.0,
            "drawdown": metrics.drawdown_series(net),
        }
    )


def decile_block(values: np.ndarray, ordered: np.ndarray, n: np.ndarray, returns: np.ndarray):
    """Per day and decile of the signal: sum of returns and count, for a block of days.

    A name's decile is ``floor(10 * (names at or below it - 1) / n)`` (ties
    share the higher decile), found by comparing with the values at the
    decile boundaries of the sorted rows ``ordered``.

    Parameters
    ----------
    values : numpy.ndarray
        ``(days, N)`` signal, NaN outside the cross-section.
    ordered : numpy.ndarray
        ``(days, N)`` rows of ``values`` sorted, +inf padded.
    n : numpy.ndarray
        ``(days,)`` names per day.
    returns : numpy.ndarray
        ``(days, N)`` returns earned (finite on the cross-section).

    Returns
    -------
    sums, counts : numpy.ndarray
        ``(days, 10)`` each.
    """
    days, width = values.shape
    labels = np.isnan(values).astype(np.uint8) * np.uint8(N_DECILES)
    above = np.empty((days, width), dtype=bool)
    rows = np.arange(days)
    for d in range(1, N_DECILES):
        pos = -((-d * n) // N_DECILES)
        bound = np.where(pos < width, ordered[rows, np.minimum(pos, width - 1)], np.inf)
        np.greater_equal(values, bound[:, None], out=above)
        labels += above
    bins = N_DECILES + 1
    key = (rows[:, None] * bins + labels).ravel()
    sums = np.bincount(key, weights=returns.ravel(), minlength=days * bins).reshape(days, bins)
    counts = np.bincount(key, minlength=days * bins).reshape(days, bins)
    return sums[:, :N_DECILES], counts[:, :N_DECILES]


def decile_table(sums: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """Pooled mean return, hit rate and count per decile from per-day sums and counts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        day_mean = sums.sum(axis=1) / counts.sum(axis=1)
        decile_mean = sums / counts
        present = counts > 0
        hits = (decile_mean > day_mean[:, None]) & present
        total = counts.sum(axis=0)
        return pd.DataFrame(
            {
                "decile": np.arange(1, N_DECILES + 1),
                "mean_return": sums.sum(axis=0) / total,
                "hit_rate": hits.sum(axis=0) / present.sum(axis=0),
                "count": total,
            }
        )


def summary_table(daily: pd.DataFrame, by_cap: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Metrics of the net returns: overall, per calendar year and per cap tercile.

    Columns ``slice`` (``overall``, ``year``, ``cap``), ``label`` (``all``, the
    year, the tercile) and those of :func:`poc.metrics.summarize`.
    """
    rows = [{"slice": "overall", "label": "all", **_metrics(daily)}]
    years = pd.DatetimeIndex(daily["date"]).year.to_numpy()
    starts = np.flatnonzero(np.r_[True, years[1:] != years[:-1]]) if len(years) else []
    for first, last in zip(starts, [*starts[1:], len(years)][: len(starts)], strict=True):
        part = daily.iloc[first:last]
        rows.append({"slice": "year", "label": str(years[first]), **_metrics(part)})
    for label, frame in by_cap.items():
        rows.append({"slice": "cap", "label": label, **_metrics(frame)})
    return pd.DataFrame(rows)


def _metrics(frame: pd.DataFrame) -> dict[str, float]:
    return metrics.summarize(frame["net"].to_numpy(), frame["turnover"].to_numpy())
