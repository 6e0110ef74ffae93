"""The hand-built 3-asset, 20-day book: every exit reason, ledger checked row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.exceptions import ConfigError
from poc.portfolio.config import PortfolioConfig
from poc.portfolio.simulate import Bars, average_true_range, signal_percentiles, simulate

A, B, C = 0, 1, 2
DAYS = 20
DATES = pd.bdate_range("2020-01-01", periods=DAYS).values


def hand_bars(ohlc: bool = True) -> Bars:
    """Flat bars (open 100, high 101, low 99, close 100: true range 2) with three events.

    B's low on day 4 is 97.5 (an intraday stop at 98); C opens at 96 on day 7
    (a gap through its stop at 98), lows 95 and closes 97 that day.
    """
    open_ = np.full((DAYS, 3), 100.0)
    high = np.full((DAYS, 3), 101.0)
    low = np.full((DAYS, 3), 99.0)
    close = np.full((DAYS, 3), 100.0)
    low[4, B] = 97.5
    open_[7, C], low[7, C], close[7, C] = 96.0, 95.0, 97.0
    if not ohlc:
        return Bars(DATES, close, security_ids=np.array([11, 12, 13]))
    return Bars(DATES, close, open_, high, low, security_ids=np.array([11, 12, 13]))


def hand_signal() -> np.ndarray:
    """A > B > C to day 3, A > C > B to day 7, C > B > A on days 8-10, A > B > C on day 17."""
    signal = np.full((DAYS, 3), np.nan)
    signal[0:4] = [3.0, 2.0, 1.0]
    signal[4:8] = [3.0, 1.0, 2.0]
    signal[8:11] = [1.0, 2.0, 3.0]
    signal[17] = [3.0, 2.0, 1.0]
    return signal


CONFIG = PortfolioConfig(
    hold_days=3,
    gate=True,
    gate_percentile=50.0,
    decay_percentile=50.0,
    max_positions=2,
    risk_per_trade=0.008,
    max_weight=0.6,
    stop_multiple=1.0,
    atr_days=2,
    commission_bps=0.0,
    slippage_bps=0.0,
    initial_cash=100_000.0,
)

# (security, decision day, entry day, entry price, shares, stop, exit decision day, exit day,
#  exit price, reason, days held, pnl, R)
EXPECTED = [
    (12, 2, 3, 100.0, 400.0, 98.0, 4, 4, 98.0, "stop", 1, -800.0, -1.0),
    (11, 2, 3, 100.0, 400.0, 98.0, 5, 6, 100.0, "time", 3, 0.0, 0.0),
    (13, 4, 5, 100.0, 396.8, 98.0, 7, 7, 96.0, "stop_gap", 2, -1587.2, -2.0),
    (11, 6, 7, 100.0, 396.8, 98.0, 8, 9, 100.0, "decay", 2, 0.0, 0.0),
    (13, 7, 8, 100.0, 195.2256, 96.0, 10, 11, 100.0, "time", 3, 0.0, 0.0),
    (12, 8, 9, 100.0, 390.4512, 98.0, 11, 12, 100.0, "time", 3, 0.0, 0.0),
    (11, 17, 18, 100.0, 390.4512, 98.0, 19, 19, 100.0, "end", 1, 0.0, 0.0),
    (12, 17, 18, 100.0, 390.4512, 98.0, 19, 19, 100.0, "end", 1, 0.0, 0.0),
]


def test_every_exit_reason_row_by_row():
    result = simulate(hand_bars(), hand_signal(), CONFIG)
    ledger = result.ledger
    assert not result.close_only
    assert len(ledger) == len(EXPECTED)
    for (_, row), want in zip(ledger.iterrows(), EXPECTED, strict=True):
        sid, dec, entry, entry_px, shares, stop, xdec, xday, xpx, reason, held, pnl, r = want
        assert row["security_id"] == sid
        assert row["decision_date"] == DATES[dec]
        assert row["entry_date"] == DATES[entry]
        assert row["entry_price"] == pytest.approx(entry_px)
        assert row["shares"] == pytest.approx(shares)
        assert row["stop_price"] == pytest.approx(stop)
        assert row["exit_decision_date"] == DATES[xdec]
        assert row["exit_date"] == DATES[xday]
        assert row["exit_price"] == pytest.approx(xpx)
        assert row["reason"] == reason
        assert row["days_held"] == held
        assert row["pnl"] == pytest.approx(pnl, abs=1e-6)
        assert row["r_multiple"] == pytest.approx(r, abs=1e-9)
    daily = result.daily
    assert daily["cash"].iloc[3] == pytest.approx(20_000.0)
    assert daily["nav"].iloc[-1] == pytest.approx(100_000.0 - 800.0 - 1587.2)
    assert daily["cash"].min() >= 0.0
    assert daily["positions"].max() == 2


def test_costs_enter_fills_pnl_and_r():
    config = PortfolioConfig(**{**CONFIG.__dict__, "commission_bps": 10.0, "slippage_bps": 20.0})
    ledger = simulate(hand_bars(), hand_signal(), config).ledger
    first = ledger.iloc[0]  # B: intraday stop
    assert first["entry_price"] == pytest.approx(100.0 * 1.002)
    assert first["exit_price"] == pytest.approx(first["stop_price"] * 0.998)
    shares = first["shares"]
    expected = shares * (first["exit_price"] * 0.999 - first["entry_price"] * 1.001)
    assert first["pnl"] == pytest.approx(expected)
    assert first["r_multiple"] == pytest.approx(expected / (shares * 2.0))
    assert first["r_multiple"] < -1.0


def test_close_only_stop_fills_at_next_close():
    """Without OHLC a stop triggers on a close at or below it and sells at the next close."""
    bars = hand_bars(ohlc=False)
    close = bars.close.copy()
    bars = Bars(DATES, close, security_ids=bars.security_ids)
    config = PortfolioConfig(**{**CONFIG.__dict__, "decay_percentile": None, "hold_days": 10})
    signal = np.full((DAYS, 3), np.nan)
    signal[2] = [3.0, 2.0, 1.0]
    result = simulate(bars, signal, config)
    assert result.close_only
    ledger = result.ledger.set_index("security_id")
    # Close-only ATR: flat closes give true range 0, so only days with moves size a stop;
    # day 2's ATR is 0 and no entry is possible: ATR must be positive.
    assert ledger.empty
    signal = np.full((DAYS, 3), np.nan)
    moving = close.copy()
    moving[1] = 102.0  # one move of 2 in the window of day 2: ATR(2) at day 2 = 2
    moving[4, B], moving[5, B] = 97.0, 96.5
    bars = Bars(DATES, moving, security_ids=np.array([11, 12, 13]))
    signal[2] = [3.0, 2.0, 1.0]
    ledger = simulate(bars, signal, config).ledger.set_index("security_id")
    b = ledger.loc[12]
    assert b["entry_date"] == DATES[3] and b["entry_price"] == pytest.approx(100.0)
    assert b["stop_price"] == pytest.approx(98.0)
    assert b["exit_decision_date"] == DATES[4] and b["exit_date"] == DATES[5]
    assert b["exit_price"] == pytest.approx(96.5) and b["reason"] == "stop"
    assert b["r_multiple"] == pytest.approx(-1.75)
    a = ledger.loc[11]
    # time exit decided at the close of 3 + 10 - 1 = 12, filled at the close of 13
    assert a["reason"] == "time" and a["exit_date"] == DATES[13]


def test_gate_off_enters_below_the_gate_and_max_positions_binds():
    config = PortfolioConfig(**{**CONFIG.__dict__, "gate": False, "max_positions": 3})
    signal = np.full((DAYS, 3), np.nan)
    signal[2] = [3.0, 2.0, 1.0]
    ledger = simulate(hand_bars(), signal, config).ledger
    assert sorted(ledger["security_id"]) == [11, 12, 13]
    gated = simulate(hand_bars(), signal, CONFIG).ledger
    assert sorted(gated["security_id"]) == [11, 12]


def test_lag_delays_the_decision():
    config = PortfolioConfig(**{**CONFIG.__dict__, "lag": 2})
    signal = np.full((DAYS, 3), np.nan)
    signal[2] = [3.0, 2.0, 1.0]
    ledger = simulate(hand_bars(), signal, config).ledger
    assert set(ledger["decision_date"]) == {DATES[4]}
    assert set(ledger["entry_date"]) == {DATES[5]}


def test_percentiles_and_atr_known_values():
    pct = signal_percentiles(np.array([[3.0, 1.0, 2.0, np.nan]]), np.ones((1, 4), bool))
    np.testing.assert_allclose(pct, [[100.0, 0.0, 50.0, np.nan]])
    atr = average_true_range(hand_bars(), 2)
    assert np.isnan(atr[:2]).all()
    assert atr[2, A] == pytest.approx(2.0)
    assert atr[4, B] == pytest.approx((2.0 + 3.5) / 2)
    assert atr[7, C] == pytest.approx((2.0 + 6.0) / 2)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("hold_days", 0, "hold_days must be a whole number >= 1"),
        ("max_positions", 1.5, "max_positions"),
        ("gate_percentile", 120.0, r"gate_percentile must be in \[0, 100\]"),
        ("risk_per_trade", 0.0, r"risk_per_trade must be in \(0, 1\]"),
        ("gate", "yes", "gate must be true or false"),
        ("decay_percentile", -1.0, "decay_percentile"),
    ],
)
def test_bad_config_names_the_setting(field, value, match):
    with pytest.raises(ConfigError, match=match):
        PortfolioConfig(**{field: value})


def test_bad_shapes_are_config_errors():
    bars = hand_bars()
    with pytest.raises(ConfigError, match="signal matrix has shape"):
        simulate(bars, np.zeros((DAYS, 2)), CONFIG)
    with pytest.raises(ConfigError, match="not all of open, high, low"):
        Bars(DATES, bars.close, open=bars.open)
