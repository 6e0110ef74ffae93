"""Planted vs noise acceptance: does the book find an edge that is there, and only then?

Compute only (no MLflow, no files): :func:`planted_market` builds seeded OHLC
bars whose open-to-close move loads on a persistent planted signal;
:func:`acceptance_table` runs the signal's book and its random-entry control
(:func:`poc.portfolio.stats.evaluate_book`) for the planted signal and for an
independent noise signal over several seeds. Run ``python -m
poc.portfolio.acceptance`` to print the table.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc.portfolio.config import PortfolioConfig
from poc.portfolio.simulate import Bars
from poc.portfolio.stats import control_draws, evaluate_book

PLANTED_LOADING = 0.08  # corr of a day's open-to-close shock with the signal of the day before
SIGNAL_PERSISTENCE = 0.9  # AR(1) coefficient of the planted signal
ACCEPTANCE_CONFIG = PortfolioConfig(
    hold_days=5, gate_percentile=80.0, max_positions=10, risk_per_trade=0.01, max_weight=0.1
)


@dataclass(frozen=True)
class PlantedMarket:
    """Bars with a planted signal and an independent noise signal of the same shape."""

    bars: Bars
    planted: np.ndarray
    noise: np.ndarray
    benchmark: np.ndarray


def planted_market(
    n_securities: int = 60, n_days: int = 260, seed: int = 0, loading: float = PLANTED_LOADING
) -> PlantedMarket:
    """Seeded OHLC bars where the signal usable at the close of ``d`` predicts day ``d+1``.

    ``planted`` is AR(1) (coefficient :data:`SIGNAL_PERSISTENCE`, unit
    variance) per name. Day ``t``: the open is the previous close times an
    overnight move (market share plus noise, independent of the signal); the
    open-to-close return is ``beta x market + sigma x (loading x planted[t-1] +
    sqrt(1 - loading^2) x shock)``; highs and lows extend the open-close range
    by a half-normal amount. ``noise`` is i.i.d. N(0, 1), independent of prices.
    """
    rng = np.random.default_rng(seed)
    n, t = n_securities, n_days
    phi = SIGNAL_PERSISTENCE
    planted = np.empty((t, n))
    planted[0] = rng.standard_normal(n)
    innovations = rng.standard_normal((t, n)) * np.sqrt(1 - phi * phi)
    for d in range(1, t):
        planted[d] = phi * planted[d - 1] + innovations[d]
    sigma = np.exp(rng.normal(np.log(0.015), 0.3, n))
    beta = np.clip(rng.normal(1.0, 0.3, n), 0.2, 2.0)
    market = rng.normal(0.0003, 0.008, t)
    previous = np.vstack([np.zeros((1, n)), planted[:-1]])
    shock = loading * previous + np.sqrt(1 - loading**2) * rng.standard_normal((t, n))
    intraday = beta * market[:, None] * 0.7 + sigma * shock
    overnight = beta * market[:, None] * 0.3 + rng.normal(0.0, 0.004, (t, n))
    close = np.empty((t, n))
    open_ = np.empty((t, n))
    start = 50.0 * np.exp(rng.normal(0.0, 0.5, n))
    open_[0] = start
    close[0] = start * (1 + intraday[0])
    for d in range(1, t):
        open_[d] = close[d - 1] * (1 + overnight[d])
        close[d] = open_[d] * (1 + intraday[d])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.004, (t, n))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.004, (t, n))))
    dates = pd.bdate_range("2015-01-02", periods=t).values
    bars = Bars(dates, close, open_, high, low)
    return PlantedMarket(bars, planted, rng.standard_normal((t, n)), market)


def acceptance_table(
    seeds: Sequence[int] = range(20),
    n_control: int = 10,
    config: PortfolioConfig = ACCEPTANCE_CONFIG,
    **market_kwargs,
) -> pd.DataFrame:
    """One row per (seed, signal): expectancy, the control's bound, whether it beats it."""
    rows = []
    for seed in seeds:
        market = planted_market(seed=seed, **market_kwargs)
        # both signals cover every (day, name), so they share one random-entry control
        control = control_draws(market.bars, market.planted, config, n_control, seed)
        for name, signal in (("planted", market.planted), ("noise", market.noise)):
            ev = evaluate_book(market.bars, signal, config, control=control)
            m = ev.metrics
            rows.append(
                {
                    "seed": seed,
                    "signal": name,
                    "n_trades": int(m["n_trades"]),
                    "expectancy": m["expectancy"],
                    "mean_r": m["mean_r"],
                    "control_median": m["control_expectancy"],
                    "control_bound": m["control_bound"],
                    "beats_control": bool(m["beats_control"]),
                }
            )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per signal: seeds, seeds with positive expectancy, seeds beating the control, both."""
    table = table.assign(both=(table["expectancy"] > 0) & table["beats_control"])
    grouped = table.groupby("signal", sort=False)
    return pd.DataFrame(
        {
            "seeds": grouped.size(),
            "positive_expectancy": grouped["expectancy"].apply(lambda x: int((x > 0).sum())),
            "beats_control": grouped["beats_control"].sum().astype(int),
            "positive_and_beats": grouped["both"].sum().astype(int),
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--controls", type=int, default=10)
    args = parser.parse_args(argv)
    table = acceptance_table(range(args.seeds), n_control=args.controls)
    with pd.option_context("display.width", 140, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.5f}"))
        print(summary(table).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
