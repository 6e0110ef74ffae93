"""Properties of the portfolio book: cash never negative, at most max_positions names,
and no decision uses data after its day."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poc.portfolio.config import PortfolioConfig
from poc.portfolio.simulate import Bars, simulate

T, N = 40, 6


def random_bars(seed: int, ohlc: bool, holes: bool) -> tuple[Bars, np.ndarray]:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0, 0.03, (T, N))
    close = 50.0 * np.cumprod(1 + ret, axis=0)
    open_ = np.vstack([close[:1], close[:-1]]) * (1 + rng.normal(0, 0.02, (T, N)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, (T, N))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, (T, N))))
    signal = rng.standard_normal((T, N))
    if holes:  # unlisted stretches and missing signal values
        gone = rng.random((T, N)) < 0.1
        for a in (close, open_, high, low):
            a[gone] = np.nan
        signal[rng.random((T, N)) < 0.2] = np.nan
    dates = np.arange(T).astype("datetime64[D]")
    bars = Bars(dates, close, open_, high, low) if ohlc else Bars(dates, close)
    return bars, signal


configs = st.builds(
    PortfolioConfig,
    hold_days=st.integers(1, 8),
    gate=st.booleans(),
    gate_percentile=st.floats(0, 100),
    decay_percentile=st.one_of(st.none(), st.floats(0, 100)),
    max_positions=st.integers(1, 6),
    risk_per_trade=st.floats(0.001, 1.0),
    max_weight=st.floats(0.05, 1.0),
    stop_multiple=st.floats(0.2, 5.0),
    atr_days=st.integers(1, 5),
    lag=st.integers(0, 2),
    commission_bps=st.floats(0, 100),
    slippage_bps=st.floats(0, 100),
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(config=configs, seed=st.integers(0, 10_000), ohlc=st.booleans(), holes=st.booleans())
def test_cash_never_negative_and_positions_capped(config, seed, ohlc, holes):
    bars, signal = random_bars(seed, ohlc, holes)
    result = simulate(bars, signal, config)
    assert (result.daily["cash"] >= 0).all()
    assert (result.daily["positions"] <= config.max_positions).all()
    assert np.isfinite(result.daily["nav"]).all()
    if len(result.ledger):
        assert (result.ledger["exit_date"] >= result.ledger["entry_date"]).all()
        assert (result.ledger["entry_date"] > result.ledger["decision_date"]).all()


@SETTINGS
@given(
    config=configs,
    seed=st.integers(0, 10_000),
    ohlc=st.booleans(),
    cut=st.integers(5, T - 2),
)
def test_no_decision_uses_data_after_its_day(config, seed, ohlc, cut):
    """Scrambling every price and signal after day ``cut`` changes nothing decided up to it."""
    bars, signal = random_bars(seed, ohlc, holes=False)
    rng = np.random.default_rng(seed + 1)

    def scramble(a):
        if a is None:
            return None
        out = a.copy()
        out[cut + 1 :] *= rng.uniform(0.5, 1.5, out[cut + 1 :].shape)
        return out

    close2 = scramble(bars.close)
    if ohlc:
        open2 = scramble(bars.open)
        high2 = np.maximum(scramble(bars.high), np.maximum(open2, close2))
        low2 = np.minimum(scramble(bars.low), np.minimum(open2, close2))
        high2[: cut + 1], low2[: cut + 1] = bars.high[: cut + 1], bars.low[: cut + 1]
        later = Bars(bars.dates, close2, open2, high2, low2)
    else:
        later = Bars(bars.dates, close2)
    signal2 = signal.copy()
    signal2[cut + 1 :] = rng.standard_normal(signal2[cut + 1 :].shape)
    one, two = simulate(bars, signal, config), simulate(later, signal2, config)
    day = bars.dates[cut]
    np.testing.assert_array_equal(one.daily["nav"][: cut + 1], two.daily["nav"][: cut + 1])
    np.testing.assert_array_equal(one.daily["cash"][: cut + 1], two.daily["cash"][: cut + 1])
    before = one.orders[one.orders["date"] <= day].reset_index(drop=True)
    after = two.orders[two.orders["date"] <= day].reset_index(drop=True)
    assert before.equals(after)
