"""Analytics of an executed allocation: metrics vs a benchmark, attribution, rotation.

All functions are pure and take plain pandas objects (most take an
:class:`~poc.allocation.execution.ExecutionResult`).

Attribution identity: with ``w_(t-1)`` the end-of-day weights of day ``t-1``
(after any trades, at the close) and ``r_t`` each asset's close-to-close
return, the contribution of asset ``i`` on day ``t`` is ``w_(t-1,i) x r_(t,i)``;
with a ``costs`` column ``-cost_t / NAV_(t-1)`` the contributions of a day add
up exactly to the portfolio's net return that day (the NAV identity of
:mod:`poc.allocation.execution`). Totals are arithmetic sums of daily
contributions, not compounded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from poc.allocation.execution import ExecutionResult
from poc.metrics import PERIODS_PER_YEAR, annual_return, sharpe_ratio, summarize, win_rate

COSTS = "costs"


def daily_weights(execution: ExecutionResult) -> pd.DataFrame:
    """End-of-day weights (dates x assets): shares x close / NAV, drifting between trades."""
    values = execution.positions * execution.marks.fillna(0.0)
    return values.div(execution.nav, axis=0)


def exposure(execution: ExecutionResult) -> pd.DataFrame:
    """Daily ``invested`` fraction, ``cash`` fraction and ``n_holdings``."""
    weights = daily_weights(execution)
    return pd.DataFrame(
        {
            "invested": weights.sum(axis=1),
            "cash": execution.cash / execution.nav,
            "n_holdings": (weights > 0).sum(axis=1),
        }
    )


def first_trade_date(execution: ExecutionResult) -> pd.Timestamp | None:
    """The first execution date (the start of the analysed window), None when nothing ran."""
    dates = execution.weights_history.index
    return dates[0] if len(dates) else None


def net_returns(execution: ExecutionResult, start: pd.Timestamp | None = None) -> pd.Series:
    """Daily net returns from the NAV, from ``start`` (default: the first execution date).

    The first execution day's return is included: it carries the entry costs.
    """
    returns = execution.nav.pct_change()
    start = first_trade_date(execution) if start is None else start
    if start is None:
        return returns.iloc[:0].rename("returns")
    return returns.loc[start:].rename("returns")


def benchmark_metrics(returns: pd.Series, benchmark: pd.Series, turnover=None) -> dict[str, float]:
    """The metric set of :func:`poc.metrics.summarize` plus benchmark-relative statistics.

    Parameters
    ----------
    returns, benchmark : Series
        Daily returns on the same dates; only dates where both are observed
        enter the relative statistics.
    turnover : array-like, optional
        Daily turnover, averaged into ``turnover``.

    Returns
    -------
    dict
        ``summarize`` keys, plus ``benchmark_ann_ret``, ``benchmark_sharpe``,
        ``excess_ann_ret`` (CAGR minus benchmark CAGR on the common dates),
        ``tracking_error`` (std of daily active returns, ddof=1, x sqrt(252)),
        ``information_ratio`` (mean active return x 252 / tracking error),
        ``beta`` (cov / var of the benchmark, ddof=1) and ``correlation``.
        NaN when fewer than 2 common observations or no dispersion.
    """
    out = summarize(returns, turnover)
    both = pd.concat([returns, benchmark], axis=1).dropna().to_numpy()
    r, b = both[:, 0], both[:, 1]
    out["benchmark_ann_ret"] = annual_return(b)
    out["benchmark_sharpe"] = sharpe_ratio(b)
    out["excess_ann_ret"] = annual_return(r) - annual_return(b)
    active = r - b
    nan = float("nan")
    if r.size < 2:
        out.update(tracking_error=nan, information_ratio=nan, beta=nan, correlation=nan)
        return out
    te = float(np.std(active, ddof=1) * np.sqrt(PERIODS_PER_YEAR))
    out["tracking_error"] = te
    out["information_ratio"] = float(np.mean(active) * PERIODS_PER_YEAR / te) if te > 0 else nan
    var_b = float(np.var(b, ddof=1))
    cov = float(np.cov(r, b, ddof=1)[0, 1])
    out["beta"] = cov / var_b if var_b > 0 else nan
    denom = np.sqrt(var_b * np.var(r, ddof=1))
    out["correlation"] = float(cov / denom) if denom > 0 else nan
    return out


def daily_contributions(execution: ExecutionResult) -> pd.DataFrame:
    """Daily contribution of each asset (``w_(t-1) x r_t``) and of costs; rows sum to net return."""
    marks = execution.marks
    asset_returns = (marks / marks.shift(1) - 1.0).fillna(0.0)
    previous = daily_weights(execution).shift(1)
    contrib = previous * asset_returns
    contrib[COSTS] = -execution.costs / execution.nav.shift(1)
    return contrib.iloc[1:]


def attribution_by_asset(
    contributions: pd.DataFrame, groups: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Total contribution per asset (or per group, e.g. sector) over the given days.

    Parameters
    ----------
    contributions : DataFrame
        From :func:`daily_contributions` (sliced to the window of interest).
    groups : mapping of asset to group, optional
        Sum assets into groups (sleeves); ``costs`` stays its own row, and an
        asset without a group goes to ``"other"``.

    Returns
    -------
    DataFrame
        Index = asset or group; ``contribution`` (sum of daily contributions)
        and ``share`` (of the total), sorted by contribution, largest first.
    """
    totals = contributions.sum(axis=0)
    if groups is not None:
        keys = [c if c == COSTS else groups.get(c, "other") for c in totals.index]
        totals = totals.groupby(keys, sort=False).sum()
    grand = totals.sum()
    table = pd.DataFrame(
        {"contribution": totals, "share": totals / grand if grand != 0 else np.nan}
    )
    table.index.name = "sleeve" if groups is not None else "asset"
    return table.sort_values("contribution", ascending=False)


def attribution_by_regime(returns: pd.Series, regimes: pd.Series) -> pd.DataFrame:
    """Net return per regime; day ``t``'s return counts for the regime of ``t-1``.

    The position held over day ``t`` was set under the regime known at the close
    of ``t-1``, so that is the regime the return is attributed to.

    Returns
    -------
    DataFrame
        Index = regime; ``days``, ``total`` (sum of daily returns), ``mean_daily``,
        ``ann_ret`` (CAGR while in that regime), ``win_rate``.
    """
    prior = regimes.shift(1).reindex(returns.index)
    rows = {}
    for regime, chunk in returns.groupby(prior, sort=True):
        values = chunk.to_numpy()
        rows[regime] = {
            "days": int(np.isfinite(values).sum()),
            "total": float(np.nansum(values)),
            "mean_daily": float(np.nanmean(values)) if np.isfinite(values).any() else np.nan,
            "ann_ret": annual_return(values),
            "win_rate": win_rate(values),
        }
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["days", "total", "mean_daily", "ann_ret", "win_rate"]
    )
    table.index.name = "regime"
    return table


def rotation_frequency(execution: ExecutionResult, min_change: float = 1e-9) -> dict[str, float]:
    """How often the executed allocation changes.

    A rotation is an execution whose target differs from the previously executed
    target by more than ``min_change`` in L1 distance (sum of absolute weight
    changes); a holdings change is one where the set of held assets changes.

    Returns
    -------
    dict
        ``n_rebalances`` (executions), ``n_rotations``, ``n_holdings_changes``,
        ``mean_days_between_rotations`` (trading days, NaN with fewer than 2),
        ``rotation_rate`` (rotations per trading day since the first execution).
    """
    done = execution.schedule["execution_date"].notna().to_numpy()
    targets = execution.signal_history.to_numpy()[done]
    dates = pd.DatetimeIndex(execution.schedule["execution_date"][done])
    nan = float("nan")
    if len(targets) == 0:
        return dict(n_rebalances=0.0, n_rotations=0.0, n_holdings_changes=0.0,
                    mean_days_between_rotations=nan, rotation_rate=nan)  # fmt: skip
    previous = np.vstack([np.zeros(targets.shape[1]), targets[:-1]])
    changed = np.abs(targets - previous).sum(axis=1) > min_change
    held_changed = ((targets > 0) != (previous > 0)).any(axis=1)
    calendar = execution.nav.index
    positions = calendar.get_indexer(dates[changed])
    days = len(calendar) - calendar.get_loc(dates[0])
    return {
        "n_rebalances": float(len(targets)),
        "n_rotations": float(changed.sum()),
        "n_holdings_changes": float(held_changed.sum()),
        "mean_days_between_rotations": float(np.diff(positions).mean())
        if positions.size > 1
        else nan,
        "rotation_rate": float(changed.sum() / days),
    }


def regime_distribution(regimes: pd.Series, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Days and share of days per regime (from ``start`` when given)."""
    labels = regimes if start is None else regimes.loc[start:]
    counts = labels.value_counts(sort=False)
    table = pd.DataFrame({"days": counts, "share": counts / counts.sum()})
    table.index.name = "regime"
    return table.sort_values("days", ascending=False)
