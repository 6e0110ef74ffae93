"""No lookahead: changing any return after day t never changes the P&L up to day t.

Holds for every lag, residualization, weighting, rebalancing, cost model,
and for trading at the open, in the whole book and in each cap tercile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poc.engine import BacktestConfig, run_backtest
from poc.panel import Panel

T, N = 40, 30
COLUMNS = ["long", "short", "gross", "cost", "net", "turnover", "n_long", "n_short", "cumulative"]


def make_panel(seed: int) -> tuple[Panel, np.ndarray]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-03-01", periods=T).values.astype("datetime64[ns]")

    def holes(values, share=0.1):
        return np.where(rng.random(values.shape) < share, np.nan, values)

    panel = Panel(
        dates=dates,
        security_ids=np.arange(1, N + 1),
        ret=holes(rng.normal(0, 0.02, (T, N))),
        openret=holes(rng.normal(0, 0.02, (T, N))),
        mcap=np.exp(rng.normal(20, 1, (T, N))),
        half_spread=holes(rng.uniform(1e-4, 1e-3, (T, N))),
        industry=np.broadcast_to(np.arange(N) % 3, (T, N)).astype(np.int16),
        industry_names=("A", "B", "C"),
        styles={"size": rng.normal(0, 1, (T, N)), "beta": rng.normal(1, 0.3, (T, N))},
    )
    return panel, holes(rng.standard_normal((T, N)))


def perturbed(panel: Panel, after: int, seed: int) -> Panel:
    """The same panel with every return (close and open) after row ``after`` redrawn."""
    rng = np.random.default_rng(seed)

    def redraw(values):
        out = values.copy()
        fresh = rng.normal(0, 0.05, out[after + 1 :].shape)
        out[after + 1 :] = np.where(rng.random(fresh.shape) < 0.2, np.nan, fresh)
        return out

    return Panel(
        dates=panel.dates,
        security_ids=panel.security_ids,
        ret=redraw(panel.ret),
        openret=redraw(panel.openret),
        mcap=panel.mcap,
        half_spread=panel.half_spread,
        industry=panel.industry,
        industry_names=panel.industry_names,
        styles=panel.styles,
    )


def until(daily: pd.DataFrame, date) -> pd.DataFrame:
    return daily[daily["date"] <= date].set_index("date")[COLUMNS]


def assert_same_until(a: pd.DataFrame, b: pd.DataFrame, date) -> None:
    a, b = until(a, date), until(b, date)
    common = a.index.intersection(b.index)
    # A day present on one side only is a flat day that one side's table kept
    # (the table ends at the last day with a position, which may come later);
    # it can only carry the cost of closing the book.
    for table in (a, b):
        extra = table.drop(common)
        assert (extra["n_long"] == 0).all() and (extra["gross"] == 0).all()
    pd.testing.assert_frame_equal(
        a.loc[common], b.loc[common], check_exact=False, rtol=0, atol=1e-13
    )


configs = st.builds(
    BacktestConfig,
    lag=st.integers(0, 3),
    residualize=st.sampled_from(["off", "industry", "all"]),
    weight=st.sampled_from(["equal", "signal"]),
    fractile=st.sampled_from([(10, 90), (20, 80), (30, 70)]),
    mincos=st.integers(2, 3),
    tc_model=st.sampled_from(["none", "spread"]),
    rebalance=st.sampled_from(["daily", "weekly", "monthly"]),
    from_open=st.booleans(),
    max_weight=st.sampled_from([None, 0.5, 1.0]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), after=st.integers(0, T - 2), config=configs)
def test_future_returns_never_change_past_pnl(seed, after, config):
    panel, signal = make_panel(seed)
    before = run_backtest(panel, signal, config)
    after_change = run_backtest(perturbed(panel, after, seed + 1), signal, config)
    cutoff = panel.dates[after]
    assert_same_until(before.daily, after_change.daily, cutoff)
    for label in before.by_cap:
        assert_same_until(before.by_cap[label], after_change.by_cap[label], cutoff)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), lag=st.integers(0, 3), from_open=st.booleans())
def test_first_return_earned_is_day_after_lag(seed, lag, from_open):
    # A signal usable only on day d earns exactly one day: d + 1 + lag (+1 from the open).
    panel, _ = make_panel(seed)
    signal = np.full(panel.shape, np.nan)
    day = 5
    signal[day] = np.arange(N, dtype=float)
    daily = run_backtest(
        panel, signal, BacktestConfig(lag=lag, from_open=from_open, mincos=1)
    ).daily
    traded = daily.loc[daily["n_long"] > 0, "date"].to_numpy()
    assert list(traded) == [panel.dates[day + 1 + lag + int(from_open)]]
