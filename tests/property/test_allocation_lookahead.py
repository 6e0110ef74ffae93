"""No lookahead: what is dated d depends on data up to the close of d only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from poc.allocation.models import EMAAllocation, RegimeRotation
from poc.allocation.optimizer import HRPAllocation
from poc.allocation.regime import classify_regimes, regime_features


def benchmark_returns(seed: int, n_days: int, start: str = "2012-01-02") -> pd.Series:
    rng = np.random.default_rng(seed)
    # Vol regimes that switch, so every label appears now and then.
    vol = np.repeat(rng.choice([0.004, 0.01, 0.03], size=n_days // 40 + 1), 40)[:n_days]
    values = rng.standard_normal(n_days) * vol + rng.choice([-0.002, 0.0, 0.002])
    values[0] = np.nan
    return pd.Series(values, index=pd.bdate_range(start, periods=n_days))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(205, 420), st.data())
def test_regimes_up_to_t_ignore_later_returns(seed, n_days, data):
    returns = benchmark_returns(seed, n_days)
    t = data.draw(st.integers(1, n_days - 2))
    changed = returns.copy()
    rng = np.random.default_rng(seed + 1)
    changed.iloc[t + 1 :] = rng.standard_normal(n_days - t - 1) * 0.05
    before, after = classify_regimes(returns), classify_regimes(changed)
    assert (before.iloc[: t + 1] == after.iloc[: t + 1]).all()
    pd.testing.assert_frame_equal(
        regime_features(returns).iloc[: t + 1], regime_features(changed).iloc[: t + 1]
    )


def test_every_regime_occurs_on_a_varied_path():
    labels = classify_regimes(benchmark_returns(3, 2000))
    assert set(labels) == {
        "warmup",
        "trend_up",
        "trend_down",
        "compression",
        "breaking_vol",
        "choppy",
    }


def price_panel(seed: int, n_days: int, n_assets: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = 0.001 * rng.standard_normal(n_assets)[None, :] + 0.015 * rng.standard_normal(
        (n_days, n_assets)
    )
    closes = 30.0 * np.exp(np.cumsum(steps, axis=0))
    dates = pd.bdate_range("2012-01-02", periods=n_days)
    return pd.DataFrame(closes, index=dates, columns=[f"X{i}" for i in range(n_assets)])


def models():
    compat = pd.DataFrame(
        np.random.default_rng(0).uniform(0.1, 1.0, size=(5, 5)),
        index=["trend_up", "trend_down", "compression", "breaking_vol", "choppy"],
        columns=[f"X{i}" for i in range(5)],
    )
    return [
        EMAAllocation(fast_span=5, slow_span=30, top_k=3, rebalance="weekly"),
        RegimeRotation(
            compatibility=compat,
            momentum_window=20,
            rebalance="weekly",
            max_weight=0.5,
            min_weight=0.05,
        ),
        HRPAllocation(lookback=40, rebalance="monthly", max_weight=0.5),
    ]


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**32 - 1), st.data())
def test_model_targets_up_to_t_ignore_later_prices(seed, data):
    n_days = 260
    prices = price_panel(seed, n_days)
    bench = benchmark_returns(seed, n_days)
    t = data.draw(st.integers(210, n_days - 2))
    rng = np.random.default_rng(seed + 2)
    changed = prices.copy()
    changed.iloc[t + 1 :] *= np.exp(rng.standard_normal((n_days - t - 1, prices.shape[1])))
    bench_changed = bench.copy()
    bench_changed.iloc[t + 1 :] = 0.04 * rng.standard_normal(n_days - t - 1)
    cut = prices.index[t]
    for model in models():
        before = model.fit(prices, bench).target_weights_.loc[:cut]
        after = model.fit(changed, bench_changed).target_weights_.loc[:cut]
        assert len(before) > 0
        pd.testing.assert_frame_equal(before, after)
