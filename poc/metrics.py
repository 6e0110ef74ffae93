"""Performance statistics of a periodic (daily) return series.

Every metric is a small pure function of a 1-d array of simple returns
(NaN = no observation, dropped first) and returns a float. Conventions follow
empyrical's and ``docs/conventions.md``:

* 252 periods per year for every slice;
* Sharpe = mean / std (ddof=1) x sqrt(252) of returns in excess of ``risk_free``
  (a per-period rate, 0 by default);
* Sortino = mean excess x 252 / (sqrt(mean(min(r - rf, 0)^2)) x sqrt(252));
* max drawdown is measured on the compounded curve including the starting
  wealth of 1, as a negative fraction;
* annual return is compounded (CAGR); Calmar = annual return / |max drawdown|.

Degenerate input (empty, all-NaN, zero dispersion where a ratio needs it)
returns NaN, never raises; each docstring says when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252


def _clean(returns) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def annual_return(returns, periods: int = PERIODS_PER_YEAR) -> float:
    """Compounded annual growth rate. NaN when empty or when wealth hits zero or below."""
    r = _clean(returns)
    if r.size == 0:
        return np.nan
    growth = np.prod(1.0 + r)
    if growth <= 0:
        return np.nan
    return float(growth ** (periods / r.size) - 1.0)


def cumulative_return(returns) -> float:
    """Total compounded return. NaN when empty."""
    r = _clean(returns)
    return float(np.prod(1.0 + r) - 1.0) if r.size else np.nan


def annual_volatility(returns, periods: int = PERIODS_PER_YEAR) -> float:
    """Sample standard deviation (ddof=1) x sqrt(periods). NaN with fewer than 2 observations."""
    r = _clean(returns)
    if r.size < 2:
        return np.nan
    return float(np.std(r, ddof=1) * np.sqrt(periods))


def sharpe_ratio(returns, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualized Sharpe ratio. NaN with fewer than 2 observations or zero dispersion."""
    r = _clean(returns) - risk_free
    if r.size < 2:
        return np.nan
    std = np.std(r, ddof=1)
    if not std > 1e-15 * max(1.0, float(np.abs(r).max())):
        return np.nan
    return float(np.mean(r) / std * np.sqrt(periods))


def downside_deviation(returns, target: float = 0.0, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualized sqrt(mean(min(r - target, 0)^2)). NaN when empty."""
    r = _clean(returns)
    if r.size == 0:
        return np.nan
    down = np.minimum(r - target, 0.0)
    return float(np.sqrt(np.mean(down * down)) * np.sqrt(periods))


def sortino_ratio(returns, target: float = 0.0, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualized mean excess return over downside deviation; NaN when nothing is below target."""
    r = _clean(returns)
    if r.size == 0:
        return np.nan
    dd = downside_deviation(r, target, periods)
    if not dd > 0:
        return np.nan
    return float(np.mean(r - target) * periods / dd)


def drawdown_series(returns) -> np.ndarray:
    """Drawdown of the compounded curve at each period (0 at a new high, negative below).

    NaN periods carry the previous wealth forward (no observation, no change).
    """
    r = np.asarray(returns, dtype=np.float64).ravel()
    wealth = np.cumprod(1.0 + np.nan_to_num(r, nan=0.0))
    peak = np.maximum.accumulate(np.concatenate(([1.0], wealth)))[1:]
    return wealth / peak - 1.0


def max_drawdown(returns) -> float:
    """Worst peak-to-trough loss of the compounded curve (from wealth 1), <= 0; NaN when empty."""
    r = _clean(returns)
    if r.size == 0:
        return np.nan
    return float(min(0.0, drawdown_series(r).min()))


def calmar_ratio(returns, periods: int = PERIODS_PER_YEAR) -> float:
    """Annual return / |max drawdown|. NaN when there is no drawdown or no data."""
    mdd = max_drawdown(returns)
    if not mdd < 0:
        return np.nan
    return float(annual_return(returns, periods) / -mdd)


def win_rate(returns) -> float:
    """Share of observed periods with a positive return. NaN when empty."""
    r = _clean(returns)
    return float(np.mean(r > 0)) if r.size else np.nan


def profit_factor(returns) -> float:
    """Sum of gains / |sum of losses|. NaN when there are no losses."""
    r = _clean(returns)
    losses = -r[r < 0].sum()
    if not losses > 0:
        return np.nan
    return float(r[r > 0].sum() / losses)


def hit_rate(predictions, outcomes) -> float:
    """Share of pairs where the prediction's sign matches the outcome's.

    Pairs where either side is NaN or exactly zero are left out (no call, or
    nothing to call). NaN when no pair remains.
    """
    p = np.asarray(predictions, dtype=np.float64).ravel()
    o = np.asarray(outcomes, dtype=np.float64).ravel()
    if p.shape != o.shape:
        raise ValueError(f"predictions and outcomes differ in length: {p.size} vs {o.size}")
    use = np.isfinite(p) & np.isfinite(o) & (p != 0) & (o != 0)
    if not use.any():
        return np.nan
    return float(np.mean(np.sign(p[use]) == np.sign(o[use])))


def drawdown_periods(returns, dates=None, top: int = 5) -> pd.DataFrame:
    """The ``top`` deepest drawdown episodes.

    Parameters
    ----------
    returns : array-like
        Periodic returns.
    dates : array-like, optional
        Labels for the periods (defaults to integer positions).
    top : int
        Number of episodes to return, deepest first.

    Returns
    -------
    DataFrame
        ``peak, trough, recovery, depth, length, recovery_periods``; ``recovery``
        is missing (and ``recovery_periods`` NaN) for an episode not yet recovered.
        ``length`` counts periods from peak to recovery (or to the end).
    """
    r = np.asarray(returns, dtype=np.float64).ravel()
    labels = np.arange(r.size) if dates is None else np.asarray(dates)
    columns = ["peak", "trough", "recovery", "depth", "length", "recovery_periods"]
    if r.size == 0 or not np.isfinite(r).any():
        return pd.DataFrame(columns=columns)
    dd = drawdown_series(r)
    under = dd < 0
    episodes = []
    i = 0
    n = r.size
    while i < n:
        if not under[i]:
            i += 1
            continue
        start = i
        while i < n and under[i]:
            i += 1
        end = i  # first period back at a high, or n
        trough = start + int(np.argmin(dd[start:end]))
        peak = start - 1
        recovered = end < n
        episodes.append(
            {
                "peak": labels[peak] if peak >= 0 else None,
                "trough": labels[trough],
                "recovery": labels[end] if recovered else None,
                "depth": float(dd[trough]),
                "length": int((end if recovered else n - 1) - max(peak, 0)),
                "recovery_periods": float(end - trough) if recovered else np.nan,
            }
        )
    table = pd.DataFrame(episodes, columns=columns)
    return table.sort_values("depth", kind="stable").head(top).reset_index(drop=True)


def recovery_time(returns) -> float:
    """Periods from the trough of the maximum drawdown back to the previous peak.

    NaN when there is no drawdown or it has not recovered by the end. (Computed
    directly, not through :func:`drawdown_periods`: it runs once per summary row.)
    """
    r = _clean(returns)
    if r.size == 0:
        return np.nan
    dd = drawdown_series(r)
    trough = int(np.argmin(dd))
    if not dd[trough] < 0:
        return np.nan
    back = np.flatnonzero(dd[trough:] >= 0)
    return float(back[0]) if back.size else np.nan


def average_turnover(turnover) -> float:
    """Mean turnover per period over observed periods. NaN when empty."""
    t = _clean(turnover)
    return float(t.mean()) if t.size else np.nan


def summarize(returns, turnover=None, periods: int = PERIODS_PER_YEAR) -> dict[str, float]:
    """The headline metric set as a flat dict (the names logged to MLflow)."""
    out = {
        "sharpe": sharpe_ratio(returns, periods=periods),
        "ann_ret": annual_return(returns, periods),
        "ann_vol": annual_volatility(returns, periods),
        "sortino": sortino_ratio(returns, periods=periods),
        "max_dd": max_drawdown(returns),
        "calmar": calmar_ratio(returns, periods),
        "win_rate": win_rate(returns),
        "profit_factor": profit_factor(returns),
        "recovery_days": recovery_time(returns),
        "n_periods": float(_clean(returns).size),
    }
    if turnover is not None:
        out["turnover"] = average_turnover(turnover)
    return out
