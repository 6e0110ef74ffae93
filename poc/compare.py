"""Run comparison: periods x variants, overlaid NAVs, metric differences with intervals.

Pure computation on daily return series (one per compared run, the headline cell of
its ``daily.parquet``); :mod:`poc.compare_run` fetches them from MLflow and logs the
sheet. Conventions (docs/conventions.md): compounded period returns, 252-day
annualization; intervals from the paired stationary bootstrap of :mod:`poc.bootstrap`.

The first run is the reference: every other run's metric difference is ``other -
reference``, computed on the days both have (a difference of two different windows
would mix periods with skill).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc.bootstrap import DiffInterval, paired_difference_intervals
from poc.exceptions import ConfigError

DIFF_METRICS = ("sharpe", "cagr", "max_dd", "ann_vol")


@dataclass(frozen=True)
class Period:
    """A named date range (inclusive)."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str  # "year" or "crisis"


def crisis_periods() -> list[Period]:
    """Named crisis periods from :mod:`poc.periods` when it is installed, else none."""
    try:
        from poc.periods import CRISES
    except ImportError:
        return []
    return [Period(c.name, pd.Timestamp(c.start), pd.Timestamp(c.end), "crisis") for c in CRISES]


def comparison_periods(streams: dict[str, pd.Series]) -> list[Period]:
    """Crises lying inside the union of the streams' dates, then the calendar years."""
    dates = pd.DatetimeIndex(sorted(set().union(*(s.dropna().index for s in streams.values()))))
    if dates.empty:
        return []
    years = [
        Period(str(y), pd.Timestamp(f"{y}-01-01"), pd.Timestamp(f"{y}-12-31"), "year")
        for y in range(dates[0].year, dates[-1].year + 1)
    ]
    crises = [p for p in crisis_periods() if p.start >= dates[0] and p.end <= dates[-1]]
    return crises + years


def period_return(returns: pd.Series, period: Period) -> float:
    """Compounded return of ``returns`` inside ``period``; NaN unless the stream covers it.

    A stream covers a period when it has days at or before the period's first
    week and at or after its last week (so a year half-observed is not shown as
    if it were whole).
    """
    r = returns.dropna()
    if r.empty:
        return np.nan
    slack = pd.Timedelta(days=7)
    if r.index[0] > period.start + slack or r.index[-1] < period.end - slack:
        return np.nan
    part = r[(r.index >= period.start) & (r.index <= period.end)].to_numpy(dtype=float)
    return float(np.prod(1.0 + part) - 1.0) if part.size else np.nan


def periods_table(streams: dict[str, pd.Series]) -> pd.DataFrame:
    """Rows = periods, columns = variants (compounded returns), plus ``kind``."""
    periods = comparison_periods(streams)
    frame = pd.DataFrame(
        {label: [period_return(s, p) for p in periods] for label, s in streams.items()},
        index=[p.name for p in periods],
    )
    frame.insert(0, "kind", [p.kind for p in periods])
    return frame


def nav_curves(streams: dict[str, pd.Series]) -> dict[str, pd.Series]:
    """Growth of 1 for each stream on its own days."""
    return {label: (1.0 + s.dropna()).cumprod() for label, s in streams.items()}


def common_days(streams: dict[str, pd.Series]) -> pd.DataFrame:
    """The streams side by side on the days every one of them has a return."""
    frame = pd.concat({k: s for k, s in streams.items()}, axis=1, join="inner").dropna()
    return frame


@dataclass(frozen=True)
class Difference:
    """One variant against the reference on their common days."""

    reference: str
    other: str
    n_days: int
    first: pd.Timestamp
    last: pd.Timestamp
    intervals: list[DiffInterval]


def differences(
    streams: dict[str, pd.Series],
    n_boot: int = 1000,
    block: float = 20.0,
    seed: int = 0,
) -> list[Difference]:
    """Each non-reference stream minus the first, with paired bootstrap 95% intervals.

    Raises
    ------
    ConfigError
        With fewer than two streams, or when two streams share fewer than 60 days.
    """
    if len(streams) < 2:
        raise ConfigError(f"a comparison needs at least two runs, got {len(streams)}")
    labels = list(streams)
    reference = labels[0]
    out = []
    for other in labels[1:]:
        both = common_days({reference: streams[reference], other: streams[other]})
        if len(both) < 60:
            raise ConfigError(
                f"{other!r} and {reference!r} share only {len(both)} day(s); a comparison needs "
                "at least 60 common days (runs on the same snapshot and dates)"
            )
        intervals = paired_difference_intervals(
            both[reference].to_numpy(),
            both[other].to_numpy(),
            metrics=DIFF_METRICS,
            n_boot=n_boot,
            block=block,
            seed=seed,
        )
        out.append(
            Difference(reference, other, len(both), both.index[0], both.index[-1], intervals)
        )
    return out
