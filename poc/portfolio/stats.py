"""Trade-level robustness statistics, the book's curve statistics, and the random-entry control.

Every statistic is a small pure function of the ledger or the daily table;
degenerate input (no trades, no losses) gives NaN, never an exception.

The random-entry control (seed 002's control group) runs the same book with the
signal replaced by seeded uniform random scores on the same (day, name)
support, so it enters as many names, on the same days, under the same gate,
sizing, stops and time exits; only the choice of names is random. It has no
signal to decay, so its decay exit is off. The signal "beats the control" when
its expectancy exceeds the control's bound: the highest expectancy among the
draws (with ``k`` draws a signal without edge beats it with probability about
``1 / (k + 1)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from poc.metrics import annual_return, max_drawdown, sharpe_ratio
from poc.portfolio.config import PortfolioConfig
from poc.portfolio.simulate import Bars, SimulationResult, simulate

TOP_SHARE = 0.05  # expectancy without the top 5% winners


def max_consecutive_losses(pnl) -> int:
    """Longest run of trades with pnl < 0, in ledger (exit) order."""
    best = run = 0
    for loss in np.asarray(pnl, dtype=np.float64) < 0:
        run = run + 1 if loss else 0
        best = max(best, run)
    return best


def expectancy_without_top(returns, share: float = TOP_SHARE) -> float:
    """Mean trade return after removing the ``ceil(share x n)`` largest; NaN when none are left."""
    values = np.sort(np.asarray(returns, dtype=np.float64))[::-1]
    kept = values[math.ceil(values.size * share) :]
    return float(kept.mean()) if kept.size else np.nan


def profit_factor(pnl) -> float:
    """Gross profit / gross loss of the trades; NaN without a losing trade."""
    pnl = np.asarray(pnl, dtype=np.float64)
    losses = -pnl[pnl < 0].sum()
    return float(pnl[pnl > 0].sum() / losses) if losses > 0 else np.nan


def trade_stats(ledger: pd.DataFrame) -> dict[str, float]:
    """Number of trades, hit rate, median trade, mean R, expectancy (mean net trade return),
    expectancy without the top 5% winners, profit factor, max consecutive losses, mean days held.
    """
    n = len(ledger)
    if n == 0:
        keys = ("hit_rate", "median_trade", "mean_r", "expectancy", "expectancy_ex_top5")
        return {
            "n_trades": 0.0,
            **dict.fromkeys(keys, np.nan),
            "profit_factor": np.nan,
            "max_consecutive_losses": 0.0,
            "mean_days_held": np.nan,
        }
    ret = ledger["return"].to_numpy(np.float64)
    pnl = ledger["pnl"].to_numpy(np.float64)
    return {
        "n_trades": float(n),
        "hit_rate": float(np.mean(pnl > 0)),
        "median_trade": float(np.median(ret)),
        "mean_r": float(np.nanmean(ledger["r_multiple"].to_numpy(np.float64))),
        "expectancy": float(ret.mean()),
        "expectancy_ex_top5": expectancy_without_top(ret),
        "profit_factor": profit_factor(pnl),
        "max_consecutive_losses": float(max_consecutive_losses(pnl)),
        "mean_days_held": float(ledger["days_held"].mean()),
    }


def book_stats(daily: pd.DataFrame) -> dict[str, float]:
    """Curve statistics: total and annual return, Sharpe, max drawdown, exposure.

    Exposure = mean over days of position value / NAV at the close.
    """
    ret = daily["ret"].to_numpy(np.float64)[1:]
    nav = daily["nav"].to_numpy(np.float64)
    return {
        "total_return": float(nav[-1] / nav[0] - 1.0) if nav.size else np.nan,
        "ann_ret": annual_return(ret),
        "sharpe": sharpe_ratio(ret),
        "max_dd": max_drawdown(ret),
        "exposure": float(np.nanmean(daily["invested"].to_numpy(np.float64))),
        "final_nav": float(nav[-1]) if nav.size else np.nan,
    }


def random_scores(signal: np.ndarray, seed: int) -> np.ndarray:
    """Uniform(0, 1) scores where ``signal`` is finite, NaN elsewhere (seeded)."""
    values = np.random.default_rng(seed).random(signal.shape)
    return np.where(np.isfinite(signal), values, np.nan)


@dataclass(frozen=True)
class BookEvaluation:
    """A signal's book, its statistics and the random-entry control.

    Attributes
    ----------
    result : SimulationResult
    metrics : dict
        Trade and book statistics of the signal's book, plus ``control_*``
        (median over draws), ``control_bound`` (highest draw expectancy),
        ``beats_control`` (1.0 / 0.0) and ``benchmark_*`` when given.
    control_expectancy : numpy.ndarray
        Expectancy of each control draw.
    control_nav : numpy.ndarray
        Median over draws of the control's NAV / initial cash, per day.
    """

    result: SimulationResult
    metrics: dict[str, float]
    control_expectancy: np.ndarray
    control_nav: np.ndarray
    control_seeds: tuple[int, ...] = field(default_factory=tuple)


def control_bound(draws: np.ndarray) -> float:
    """The control's bound: the highest finite draw (NaN without one)."""
    finite = np.asarray(draws, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else np.nan


def beats(value: float, bound: float) -> bool:
    """True when ``value`` is finite and above a finite ``bound``."""
    return bool(math.isfinite(value) and math.isfinite(bound) and value > bound)


@dataclass(frozen=True)
class ControlDraws:
    """Statistics of the random-entry control's draws (see the module docstring)."""

    stats: tuple[dict[str, float], ...]
    expectancy: np.ndarray
    nav: np.ndarray  # median over draws of NAV / initial cash, per day
    seeds: tuple[int, ...]


def control_draws(
    bars: Bars, signal: np.ndarray, config: PortfolioConfig, n_control: int, seed: int
) -> ControlDraws:
    """Run ``n_control`` random-entry books on the support of ``signal`` (seeds ``seed*1000+k``).

    The draws depend on the signal's support only (where it is finite), not its values, so
    two signals with the same support share one control.
    """
    seeds = tuple(seed * 1000 + k for k in range(n_control))
    stats, curves = [], []
    for s in seeds:
        draw = simulate(bars, random_scores(signal, s), config, use_decay=False)
        stats.append({**trade_stats(draw.ledger), **book_stats(draw.daily)})
        curves.append(draw.daily["nav"].to_numpy() / config.initial_cash)
    expectancy = np.asarray([c["expectancy"] for c in stats], dtype=np.float64)
    nav = np.median(np.vstack(curves), axis=0) if curves else np.full(bars.shape[0], np.nan)
    return ControlDraws(tuple(stats), expectancy, nav, seeds)


def evaluate_book(
    bars: Bars,
    signal: np.ndarray,
    config: PortfolioConfig,
    n_control: int = 10,
    seed: int = 0,
    benchmark_ret: np.ndarray | None = None,
    control: ControlDraws | None = None,
) -> BookEvaluation:
    """Simulate the signal's book and ``n_control`` random-entry draws with the same rules.

    Parameters
    ----------
    benchmark_ret : numpy.ndarray, optional
        Daily benchmark returns on the bars' dates (buy and hold of it is the
        benchmark); NaN days count as 0.
    control : ControlDraws, optional
        Draws already run for a signal with the same support (``n_control`` and
        ``seed`` are then ignored).
    """
    result = simulate(bars, signal, config)
    metrics = {**trade_stats(result.ledger), **book_stats(result.daily)}
    if control is None:
        control = control_draws(bars, signal, config, n_control, seed)
    bound = control_bound(control.expectancy)
    for key in ("expectancy", "mean_r", "hit_rate", "total_return", "sharpe", "n_trades"):
        values = np.asarray([c[key] for c in control.stats], dtype=np.float64)
        finite = values[np.isfinite(values)]
        metrics[f"control_{key}"] = float(np.median(finite)) if finite.size else np.nan
    metrics["control_bound"] = bound
    metrics["beats_control"] = float(beats(metrics["expectancy"], bound))
    if benchmark_ret is not None:
        bench = np.nan_to_num(np.asarray(benchmark_ret, dtype=np.float64))[1:]
        metrics["benchmark_total_return"] = float(np.prod(1.0 + bench) - 1.0)
        metrics["benchmark_ann_ret"] = annual_return(bench)
        metrics["benchmark_sharpe"] = sharpe_ratio(bench)
        metrics["benchmark_max_dd"] = max_drawdown(bench)
    return BookEvaluation(result, metrics, control.expectancy, control.nav, control.seeds)
