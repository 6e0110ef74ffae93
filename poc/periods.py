"""Performance by period: in-sample vs out-of-sample, named crises, months and years.

Pure functions of daily simple-return series on a DatetimeIndex (NaN = no
observation). Metrics follow docs/conventions.md (252-day annualization,
compounded returns, drawdown on the compounded curve).

* :func:`resolve_oos_start` and :func:`split_metrics`: a spec's ``oos_start``
  (a date, or a fraction of the days in (0, 1)) splits a stream into an
  in-sample part (before the date) and an out-of-sample part (from the date on);
  metrics come back as ``is_sharpe``, ``oos_sharpe``, ``is_ann_ret``, ...
* :data:`CRISES` and :func:`crisis_table`: named stress periods that lie entirely
  inside the data, the compounded return and max drawdown of each stream there.
* :func:`monthly_table` and :func:`annual_table`: calendar returns (compounded, or
  summed with ``compound=False``: the additive ``cum_return`` of signal suites).
* :func:`partial_year_labels`: "1990 (from 1990-03-15)" for a first or last calendar
  year the data cover only in part.

``compound=False`` is the signal sheet's definition (docs/conventions.md, "Tear sheets:
one cumulative and one drawdown per sheet"): a period's return is the sum of its daily
returns and a drawdown is the fall of that sum below its running peak (peak starts at 0),
in return points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc import metrics
from poc.exceptions import ConfigError

SPLIT_METRICS = {
    "sharpe": metrics.sharpe_ratio,
    "ann_ret": metrics.annual_return,
    "ann_vol": metrics.annual_volatility,
    "max_dd": metrics.max_drawdown,
    "sortino": metrics.sortino_ratio,
}


@dataclass(frozen=True)
class Crisis:
    """A named stress period (inclusive dates, peak to trough of the S&P 500 where one exists)."""

    name: str
    start: str
    end: str


CRISES = (
    Crisis("1998 LTCM", "1998-07-17", "1998-10-08"),
    Crisis("2000-02 dot-com", "2000-03-24", "2002-10-09"),
    Crisis("2008 GFC", "2007-10-09", "2009-03-09"),
    Crisis("2011 euro crisis", "2011-04-29", "2011-10-03"),
    Crisis("2015-16 China / oil", "2015-05-21", "2016-02-11"),
    Crisis("2018 Q4 selloff", "2018-09-20", "2018-12-24"),
    Crisis("2020 COVID crash", "2020-02-19", "2020-03-23"),
    Crisis("2022 rates shock", "2022-01-03", "2022-10-12"),
)


def resolve_oos_start(index: pd.DatetimeIndex, oos_start) -> pd.Timestamp:
    """The first out-of-sample date for ``oos_start`` on the dates ``index``.

    Parameters
    ----------
    index : DatetimeIndex
        Sorted dates of the stream.
    oos_start : str, Timestamp or float
        A date (the first trading date on or after it starts the OOS part) or a
        fraction in (0, 1): the last ``fraction`` of the days are out of sample.

    Raises
    ------
    ConfigError
        A fraction outside (0, 1), an unreadable date, or a split that leaves
        either side with fewer than 2 days.
    """
    if len(index) < 4:
        raise ConfigError(f"oos_start: need at least 4 dates to split, got {len(index)}")
    if isinstance(oos_start, int | float | np.floating) and not isinstance(oos_start, bool):
        fraction = float(oos_start)
        if not 0 < fraction < 1:
            raise ConfigError(
                f"oos_start: a fraction must lie in (0, 1), got {oos_start}; e.g. 0.3 keeps "
                "the last 30% of days out of sample, or give a date such as 2015-01-01"
            )
        position = round(len(index) * (1 - fraction))
    else:
        try:
            when = pd.Timestamp(str(oos_start))
        except (TypeError, ValueError):
            raise ConfigError(
                f"oos_start: cannot read {oos_start!r} as a date (e.g. 2015-01-01) or a "
                "fraction (e.g. 0.3)"
            ) from None
        position = int(index.searchsorted(when, side="left"))
    if position < 2 or len(index) - position < 2:
        raise ConfigError(
            f"oos_start {oos_start!r} leaves {position} in-sample and {len(index) - position} "
            f"out-of-sample days (data {index[0].date()} to {index[-1].date()}); pick a date "
            "inside the data"
        )
    return pd.Timestamp(index[position])


def split_metrics(returns: pd.Series, oos_start) -> dict[str, float]:
    """In-sample and out-of-sample metrics of a daily return stream.

    Returns
    -------
    dict
        ``is_<m>`` and ``oos_<m>`` for every ``m`` in :data:`SPLIT_METRICS`,
        plus ``is_days`` and ``oos_days`` (observed days on each side).
    """
    start = resolve_oos_start(returns.index, oos_start)
    inside = returns[returns.index < start]
    outside = returns[returns.index >= start]
    out: dict[str, float] = {}
    for prefix, part in (("is", inside), ("oos", outside)):
        for key, func in SPLIT_METRICS.items():
            out[f"{prefix}_{key}"] = func(part)
        out[f"{prefix}_days"] = float(part.notna().sum())
    return out


def crises_in(index: pd.DatetimeIndex) -> list[Crisis]:
    """The crises of :data:`CRISES` that lie entirely inside the dates ``index``."""
    if len(index) == 0:
        return []
    first, last = index[0], index[-1]
    return [c for c in CRISES if pd.Timestamp(c.start) >= first and pd.Timestamp(c.end) <= last]


def additive_max_drawdown(returns: pd.Series) -> float:
    """Deepest fall of ``cum = returns.cumsum()`` below its running peak (peak starts at 0).

    A negative number in return points, 0 without a drawdown, NaN without data: the
    drawdown of the additive curve (the compounded one is :func:`poc.metrics.max_drawdown`).
    """
    r = pd.Series(returns, dtype=float).dropna().to_numpy()
    if r.size == 0:
        return float("nan")
    cum = np.cumsum(r)
    return float(min(0.0, (cum - np.maximum.accumulate(np.maximum(cum, 0.0))).min()))


def _summed(values: pd.Series) -> float:
    observed = values.dropna()
    return float(observed.sum()) if len(observed) else np.nan


def crisis_table(streams: dict[str, pd.Series], compound: bool = True) -> pd.DataFrame:
    """Return and max drawdown of each stream in each crisis inside the data.

    Parameters
    ----------
    streams : dict
        Label -> daily returns; the first stream's dates decide which crises
        are inside the data.
    compound : bool
        Compounded return and drawdown of the compounded curve, or (False) the
        sum of daily returns and :func:`additive_max_drawdown`.

    Returns
    -------
    DataFrame
        One row per crisis (index = crisis name) with ``start``, ``end``,
        ``days`` and, per stream, ``<label> return`` and ``<label> max DD``.
        Empty (no rows) when no crisis falls inside the data.
    """
    if not streams:
        raise ConfigError("crisis_table needs at least one return stream")
    first = next(iter(streams.values()))
    rows = []
    for crisis in crises_in(first.index):
        window = slice(pd.Timestamp(crisis.start), pd.Timestamp(crisis.end))
        row: dict[str, object] = {
            "crisis": crisis.name,
            "start": crisis.start,
            "end": crisis.end,
            "days": int(first.loc[window].notna().sum()),
        }
        for label, series in streams.items():
            part = series.loc[window]
            if compound:
                row[f"{label} return"] = metrics.cumulative_return(part)
                row[f"{label} max DD"] = metrics.max_drawdown(part)
            else:
                row[f"{label} return"] = _summed(part)
                row[f"{label} max DD"] = additive_max_drawdown(part)
        rows.append(row)
    columns = ["crisis", "start", "end", "days"] + [
        f"{label} {what}" for label in streams for what in ("return", "max DD")
    ]
    return pd.DataFrame(rows, columns=columns).set_index("crisis")


def _compounded(values: pd.Series) -> float:
    observed = values.dropna()
    return float(np.prod(1.0 + observed.to_numpy()) - 1.0) if len(observed) else np.nan


def monthly_table(returns: pd.Series, compound: bool = True) -> pd.DataFrame:
    """Return per calendar month: years as rows, ``Jan`` .. ``Dec`` and ``Year``.

    Compounded, or (``compound=False``) the sum of the days. A month without
    observations is NaN; ``Year`` aggregates the year's days the same way.
    """
    aggregate = _compounded if compound else _summed
    returns = returns.dropna()
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    if returns.empty:
        return pd.DataFrame(columns=[*names, "Year"])
    index = pd.DatetimeIndex(returns.index)
    by_month = returns.groupby([index.year, index.month]).apply(aggregate)
    table = by_month.unstack().reindex(columns=range(1, 13))
    table.columns = names
    table["Year"] = returns.groupby(index.year).apply(aggregate)
    table.index.name = "year"
    return table


def annual_table(
    streams: dict[str, pd.Series], oos_start=None, compound: bool = True
) -> pd.DataFrame:
    """Return per calendar year for each stream, and the first stream's Sharpe.

    Parameters
    ----------
    streams : dict
        Label -> daily returns (the first is the primary stream).
    oos_start : optional
        When given, a ``sample`` column marks each year ``IS``, ``OOS`` or
        ``IS/OOS`` (the split falls inside the year).
    compound : bool
        Compounded returns, or (False) the sum of the year's daily returns.
    """
    aggregate = _compounded if compound else _summed
    if not streams:
        raise ConfigError("annual_table needs at least one return stream")
    label, primary = next(iter(streams.items()))
    years = sorted(set(pd.DatetimeIndex(primary.dropna().index).year))
    frame = pd.DataFrame(index=pd.Index(years, name="year"))
    for name, series in streams.items():
        index = pd.DatetimeIndex(series.index)
        frame[f"{name} return"] = series.groupby(index.year).apply(aggregate)
    index = pd.DatetimeIndex(primary.index)
    frame[f"{label} Sharpe"] = primary.groupby(index.year).apply(metrics.sharpe_ratio)
    if oos_start is not None:
        start = resolve_oos_start(primary.index, oos_start)
        dates = pd.Series(pd.DatetimeIndex(primary.dropna().index))
        after = (dates >= start).groupby(dates.dt.year)
        frame["sample"] = [
            "OOS" if a else ("IS" if not b else "IS/OOS")
            for a, b in zip(after.all().reindex(years), after.any().reindex(years), strict=True)
        ]
    return frame


def partial_year_labels(dates) -> dict[int, str]:
    """Row labels of the first and last calendar years that the data cover only in part.

    The first year is partial when the data start more than one weekday after the
    year's first weekday from 2 January (one weekday of slack for a New Year holiday);
    the last when they end more than one weekday before the year's last weekday (for a
    31 December closure). There is no exchange calendar here, only the data's dates.

    Parameters
    ----------
    dates : array-like of datetimes
        The observed dates of a stream (NaN returns already dropped).

    Returns
    -------
    dict
        ``{1990: "1990 (from 1990-03-15)", 2022: "2022 (to 2022-12-28)"}``; a full
        year is absent, a single partial year reads ``"2020 (2020-02-03 to 2020-06-30)"``.
    """
    index = pd.DatetimeIndex(dates)
    if len(index) == 0:
        return {}
    first, last = index.min().normalize(), index.max().normalize()
    day = pd.offsets.BDay()
    starts_late = first > day.rollforward(pd.Timestamp(first.year, 1, 2)) + day
    ends_early = last < day.rollback(pd.Timestamp(last.year, 12, 31)) - day
    labels: dict[int, str] = {}
    if first.year == last.year:
        if starts_late or ends_early:
            labels[first.year] = f"{first.year} ({first.date()} to {last.date()})"
        return labels
    if starts_late:
        labels[first.year] = f"{first.year} (from {first.date()})"
    if ends_early:
        labels[last.year] = f"{last.year} (to {last.date()})"
    return labels
