"""Researcher's extras for both tear sheets (template ``tearsheets/_extras.html.j2``).

What quantstats, pyfolio and alphalens users look for first: a monthly
returns heatmap, rolling Sharpe and rolling beta, the worst drawdowns, the
distribution of daily returns, the IC time series with its rolling mean and
histogram (signal suites), turnover over time, and a short glossary.

Every function takes the headline's daily table (or plain series) and
returns formatted tables and inline SVG; nothing here touches MLflow or files.
Conventions (docs/conventions.md): 252 periods a year, Sharpe = mean/std
(ddof=1) x sqrt(252); drawdowns and monthly returns follow the sheet's cum_return
(compounded for allocations, additive for signal suites).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from poc import charts
from poc.metrics import drawdown_periods
from poc.periods import partial_year_labels

PERIODS = 252
ROLLING_DAYS = 126  # about six months: long enough for a Sharpe, short enough to move
IC_ROLLING_DAYS = 63
TURNOVER_DAYS = 21

GLOSSARY = (
    ("cum_return", "The curve logged to MLflow and drawn on the sheet; its definition "
     "(additive sum of daily net returns for signal suites, compounded for allocations) "
     "is named in the chart title and in the child run's cum_return_definition tag."),
    ("Sharpe", "Mean daily return / standard deviation (ddof=1) x sqrt(252); risk-free 0."),
    ("Rolling Sharpe", f"Sharpe over the trailing {ROLLING_DAYS} trading days."),
    ("Beta", f"Covariance with the market / variance of the market over {ROLLING_DAYS} days; "
     "the market is the benchmark (allocations) or the equal-weighted mean return of the "
     "snapshot's securities (signal suites)."),
    ("Drawdown", "Fall below the running peak of the sheet's cum_return curve (additive for "
     "signal suites, in return points; compounded for allocations). The max_dd metric is "
     "always on the compounded curve."),
    ("Turnover", "Sum over names of |w_t - w_(t-1)|, both legs; cost = turnover x cost rate."),
    ("IC", "Daily cross-sectional Spearman rank correlation of the signal with the next "
     "day's return at the headline lag."),
    ("Monthly return", "Sum of daily net returns in the month (signal suites) or compounded "
     "(allocations), matching each sheet's cum_return definition."),
)  # fmt: skip


def monthly_returns(net: pd.Series, compound: bool) -> pd.DataFrame:
    """Year x month table of returns (sum or compounded within each month)."""
    r = net.dropna()
    if r.empty:
        return pd.DataFrame()
    idx = pd.DatetimeIndex(r.index)
    grouped = r.groupby([idx.year, idx.month])
    values = grouped.apply(lambda x: np.prod(1.0 + x) - 1.0) if compound else grouped.sum()
    table = values.unstack()
    table.index.name, table.columns.name = "year", "month"
    return table.reindex(columns=range(1, 13))


def rolling_sharpe(net: pd.Series, window: int = ROLLING_DAYS) -> pd.Series:
    r = net.astype(float)
    mean = r.rolling(window, min_periods=window // 2).mean()
    std = r.rolling(window, min_periods=window // 2).std(ddof=1)
    return (mean / std.where(std > 0)) * np.sqrt(PERIODS)


def rolling_beta(net: pd.Series, market: pd.Series, window: int = ROLLING_DAYS) -> pd.Series:
    both = pd.concat([net.rename("r"), market.rename("m")], axis=1, sort=True).dropna()
    cov = both["r"].rolling(window, min_periods=window // 2).cov(both["m"])
    var = both["m"].rolling(window, min_periods=window // 2).var()
    return cov / var.where(var > 0)


def _fmt_pct(x, digits: int = 1) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x * 100:,.{digits}f}%"


def _date(x) -> str:
    return "–" if x is None or pd.isna(x) else str(pd.Timestamp(x).date())


def additive_drawdown_periods(net: pd.Series, top: int = 5) -> pd.DataFrame:
    """The deepest episodes below the running peak of ``cum = net.cumsum()`` (peak starts at 0).

    Same columns as :func:`poc.metrics.drawdown_periods`; ``depth`` is in return
    points of the additive curve (a long-short book's compounded curve pins at -100%).
    """
    r = net.dropna()
    cum = r.cumsum()
    dd = cum - np.maximum.accumulate(np.maximum(cum.to_numpy(), 0.0))
    under = dd.to_numpy() < 0
    columns = ["peak", "trough", "recovery", "depth", "length", "recovery_periods"]
    if not under.any():
        return pd.DataFrame(columns=columns)
    run_id = np.cumsum(np.r_[True, under[1:] != under[:-1]])
    dates = pd.DatetimeIndex(r.index)
    rows = []
    for k in np.unique(run_id[under]):
        pos = np.flatnonzero(run_id == k)
        start, end = pos[0], pos[-1]
        trough = start + int(np.argmin(dd.to_numpy()[start : end + 1]))
        recovered = end + 1 < len(r)
        rows.append(
            {
                "peak": dates[start - 1] if start > 0 else pd.NaT,
                "trough": dates[trough],
                "recovery": dates[end + 1] if recovered else pd.NaT,
                "depth": float(dd.iloc[trough]),
                "length": end - start + 1 + int(recovered),
                "recovery_periods": end + 1 - trough if recovered else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=columns).nsmallest(top, "depth").reset_index(drop=True)


def worst_drawdowns_table(net: pd.Series, compound: bool, top: int = 5) -> dict[str, Any]:
    """The deepest drawdown episodes: of the compounded curve, or of the additive one."""
    from poc.tearsheet import table

    r = net.dropna()
    if compound:
        periods = drawdown_periods(r.to_numpy(), pd.DatetimeIndex(r.index), top=top)
    else:
        periods = additive_drawdown_periods(r, top)
    rows = [
        [
            str(i + 1),
            _date(p["peak"]) if pd.notna(p["peak"]) else "start",
            _date(p["trough"]),
            _date(p["recovery"]) if pd.notna(p["recovery"]) else "not recovered",
            _fmt_pct(p["depth"]),
            f"{int(p['length'])}",
        ]
        for i, p in enumerate(periods.to_dict("records"))
    ]
    return table(["#", "Peak", "Trough", "Recovery", "Depth", "Days"], rows, None, ["Recovery"])


def monthly_table(monthly: pd.DataFrame, years: dict[int, str] | None = None) -> dict[str, Any]:
    """The year x month table; ``years`` relabels partial years ("1990 (from 1990-03-15)")."""
    from poc.tearsheet import table

    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    years = years or {}
    rows = [[years.get(y, str(y)), *(_fmt_pct(v) for v in row)] for y, row in monthly.iterrows()]
    return table(["Year", *names], rows)


def extras_context(
    net: pd.Series,
    turnover: pd.Series | None,
    market: pd.Series | None,
    compound: bool,
    ic_daily: pd.Series | None = None,
    market_label: str = "market",
) -> dict[str, Any]:
    """Charts and tables of the extras partial for one headline return series.

    Parameters
    ----------
    net : Series
        Daily net returns indexed by date.
    turnover, market : Series, optional
        Daily turnover; the market's daily return for the rolling beta.
    compound : bool
        Monthly returns compounded (allocations) or summed (signal suites).
    ic_daily : Series, optional
        The daily rank IC (signal suites only).
    """
    net = net.astype(float)
    if isinstance(turnover, pd.DataFrame):  # a resumed cell's tables come back as frames
        turnover = turnover.iloc[:, 0] if turnover.shape[1] else None
    if turnover is not None:
        turnover = turnover.set_axis(pd.DatetimeIndex(turnover.index))
    monthly = monthly_returns(net, compound)
    month_names = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"]
    out: dict[str, Any] = {
        "monthly_heatmap": charts.heatmap(
            monthly.set_axis(month_names, axis=1),
            "Monthly returns (" + ("compounded" if compound else "sum of daily") + ")",
            size=(charts.FULL_WIDTH, max(2.5, 0.16 * len(monthly) + 1.0)),
            cmap="RdYlGn",
            symmetric=True,
            percent=True,
        )
        if len(monthly)
        else "",
        "monthly_table": monthly_table(monthly, partial_year_labels(net.dropna().index))
        if len(monthly)
        else None,
        "rolling_sharpe": charts.line_chart(
            {"rolling Sharpe": rolling_sharpe(net)},
            f"Rolling Sharpe ({ROLLING_DAYS} days)",
            size=(charts.FULL_WIDTH, 2.6),
        ),
        "rolling_beta": charts.line_chart(
            {"rolling beta": rolling_beta(net, market)},
            f"Rolling beta to the {market_label} ({ROLLING_DAYS} days)",
            size=(charts.FULL_WIDTH, 2.6),
        )
        if market is not None
        else "",
        "drawdowns_table": worst_drawdowns_table(net, compound),
        "drawdowns_basis": "of the compounded curve"
        if compound
        else "of the additive cum_return, in return points",
        "distribution": charts.histogram(
            net.to_numpy(),
            "Distribution of daily net returns",
            percent=True,
            marks={
                "mean": float(net.mean()),
                "5% quantile (VaR 95%)": float(net.quantile(0.05)),
            },
        ),
        "turnover": charts.line_chart(
            {"turnover": turnover.rolling(TURNOVER_DAYS, min_periods=1).mean()},
            f"Turnover ({TURNOVER_DAYS}-day mean of daily sum |Δw|)",
            size=(charts.FULL_WIDTH, 2.6),
        )
        if turnover is not None and turnover.notna().any()
        else "",
        "ic_series": "",
        "ic_hist": "",
        "glossary": GLOSSARY,
    }
    if ic_daily is not None and ic_daily.notna().any():
        out["ic_series"] = charts.line_chart(
            {
                "daily IC": ic_daily,
                f"{IC_ROLLING_DAYS}-day mean": ic_daily.rolling(
                    IC_ROLLING_DAYS, min_periods=IC_ROLLING_DAYS // 2
                ).mean(),
            },
            "Daily rank IC (1 day) and its rolling mean",
            highlight=f"{IC_ROLLING_DAYS}-day mean",
            size=(charts.FULL_WIDTH, 2.8),
        )
        out["ic_hist"] = charts.histogram(
            ic_daily.to_numpy(), "Distribution of the daily IC", marks={"mean": ic_daily.mean()}
        )
    return out
