"""Properties of the execution simulator on random panels, targets and settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from poc.allocation.execution import simulate_execution
from poc.allocation.projection import project_capped_simplex
from poc.allocation.schema import check_weights_history


def panel(seed: int, n_days: int, n_assets: int, late_listing: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = 0.02 * rng.standard_normal((n_days, n_assets))
    closes = 20.0 * np.exp(np.cumsum(steps, axis=0))
    if late_listing:
        closes[: n_days // 3, 0] = np.nan
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    return pd.DataFrame(closes, index=dates, columns=[f"S{i}" for i in range(n_assets)])


@st.composite
def scenarios(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n_days = draw(st.integers(5, 60))
    n_assets = draw(st.integers(1, 6))
    cap = draw(st.sampled_from([0.3, 0.5, 1.0]))
    cap = max(cap, 1.0 / n_assets)
    minimum = draw(st.sampled_from([0.0, 0.05]))
    invested = draw(st.sampled_from([1.0, 0.8, 0.5]))
    every = draw(st.integers(1, 7))
    settings_ = dict(
        rebalance=draw(st.sampled_from(["daily", "weekly", "monthly"])),
        delay=draw(st.integers(0, 3)),
        commission_bps=draw(st.sampled_from([0.0, 1.0, 25.0])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 100.0])),
        no_trade_band=draw(st.sampled_from([0.0, 0.01, 0.1])),
        max_weight=cap,
        min_weight=minimum,
    )
    return seed, n_days, n_assets, cap, minimum, invested, every, settings_, draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_cash_nav_and_caps_hold_every_day(scenario):
    seed, n_days, n_assets, cap, minimum, invested, every, kw, late = scenario
    prices = panel(seed, n_days, n_assets, late)
    rng = np.random.default_rng(seed + 1)
    dates = prices.index[::every]
    rows = [
        project_capped_simplex(rng.standard_normal(n_assets), invested, cap, minimum) for _ in dates
    ]
    targets = pd.DataFrame(rows, index=dates, columns=prices.columns)
    res = simulate_execution(prices, targets, **kw)

    assert (res.cash >= 0).all(), "cash went negative"
    value = (res.positions * res.marks.fillna(0.0)).sum(axis=1)
    np.testing.assert_allclose(res.nav, res.cash + value, rtol=1e-9, atol=0)
    step = res.nav.diff().iloc[1:]
    pnl = (res.positions.shift(1) * res.marks.fillna(0.0).diff()).sum(axis=1).iloc[1:]
    np.testing.assert_allclose(step, pnl - res.costs.iloc[1:], atol=1e-9 * res.nav.max())
    assert (res.positions >= 0).all().all(), "long-only book went short"
    if not late:
        # Every asset tradable on every day: the rules hold on every post-trade row.
        check_weights_history(res.weights_history, cap, minimum)
