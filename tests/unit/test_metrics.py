"""Metrics: known values on a hand-built series, invariances, and NaN on degenerate input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from poc import metrics as m

# Hand-built: wealth 1.1, 1.045, 1.0659, 0.95931, 1.1032065.
R = np.array([0.10, -0.05, 0.02, -0.10, 0.15])
STD = math.sqrt((0.076**2 + 0.074**2 + 0.004**2 + 0.124**2 + 0.126**2) / 4)
GROWTH = 1.1 * 0.95 * 1.02 * 0.9 * 1.15


def test_known_values():
    assert m.sharpe_ratio(R) == pytest.approx(0.024 / STD * math.sqrt(252), rel=1e-12)
    assert m.annual_volatility(R) == pytest.approx(STD * math.sqrt(252), rel=1e-12)
    assert m.cumulative_return(R) == pytest.approx(GROWTH - 1, rel=1e-12)
    assert m.annual_return(R) == pytest.approx(GROWTH ** (252 / 5) - 1, rel=1e-12)
    assert m.max_drawdown(R) == pytest.approx(0.95931 / 1.1 - 1, rel=1e-12)
    downside = math.sqrt((0.05**2 + 0.10**2) / 5) * math.sqrt(252)
    assert m.sortino_ratio(R) == pytest.approx(0.024 * 252 / downside, rel=1e-12)
    assert m.calmar_ratio(R) == pytest.approx(m.annual_return(R) / (1 - 0.95931 / 1.1))
    assert m.win_rate(R) == 0.6
    assert m.profit_factor(R) == pytest.approx(0.27 / 0.15)
    assert m.recovery_time(R) == 1.0
    assert m.average_turnover([1.0, 3.0, np.nan]) == 2.0


def test_drawdown_from_the_first_day_counts():
    # empyrical convention: the curve starts at wealth 1, so a first-day loss is a drawdown.
    assert m.max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1)


def test_drawdown_periods_table():
    r = np.array([0.1, -0.2, 0.3, -0.05, -0.05, 0.0])
    table = m.drawdown_periods(r, dates=np.arange(10, 16), top=5)
    assert list(table.columns) == [
        "peak",
        "trough",
        "recovery",
        "depth",
        "length",
        "recovery_periods",
    ]
    first = table.iloc[0]
    assert (first["peak"], first["trough"], first["recovery"]) == (10, 11, 12)
    assert first["depth"] == pytest.approx(-0.2)
    second = table.iloc[1]
    assert pd.isna(second["recovery"]) and np.isnan(second["recovery_periods"])
    assert second["depth"] == pytest.approx(0.95 * 0.95 - 1)
    assert m.recovery_time(r) == 1.0
    assert np.isnan(m.recovery_time([0.1, -0.1]))  # not recovered by the end


def test_sharpe_invariant_to_shifting_returns_and_risk_free_together(rng):
    r = rng.normal(0.0004, 0.01, 500)
    assert m.sharpe_ratio(r + 0.0002, risk_free=0.0002) == pytest.approx(m.sharpe_ratio(r))
    assert m.sharpe_ratio(3 * r) == pytest.approx(m.sharpe_ratio(r))  # scale free


def test_nan_periods_are_dropped(rng):
    r = rng.normal(0.0, 0.01, 50)
    with_gaps = np.insert(r, [5, 20], np.nan)
    for func in (m.sharpe_ratio, m.annual_return, m.max_drawdown, m.sortino_ratio):
        assert func(with_gaps) == pytest.approx(func(r))


DEGENERATE_ALL_NAN = [
    m.sharpe_ratio,
    m.annual_return,
    m.annual_volatility,
    m.sortino_ratio,
    m.max_drawdown,
    m.calmar_ratio,
    m.win_rate,
    m.profit_factor,
    m.recovery_time,
    m.cumulative_return,
    m.average_turnover,
]


@pytest.mark.parametrize("func", DEGENERATE_ALL_NAN)
@pytest.mark.parametrize("data", [[], [np.nan, np.nan]], ids=["empty", "all-nan"])
def test_empty_and_all_nan_give_nan(func, data):
    assert np.isnan(func(np.array(data, dtype=float)))


@pytest.mark.parametrize(
    "func", [m.sharpe_ratio, m.sortino_ratio, m.calmar_ratio, m.profit_factor, m.recovery_time]
)
def test_constant_series_gives_nan_for_ratios(func):
    # No dispersion, no downside, no drawdown, no loss: the ratios are undefined.
    assert np.isnan(func(np.full(30, 0.001)))


def test_constant_series_well_defined_levels():
    r = np.full(30, 0.001)
    assert m.annual_volatility(r) == pytest.approx(0.0, abs=1e-15)
    assert m.max_drawdown(r) == 0.0
    assert m.annual_return(r) == pytest.approx(1.001**252 - 1)


def test_wealth_wiped_out_gives_nan_cagr():
    assert np.isnan(m.annual_return([0.5, -1.0, 0.1]))


def test_hit_rate():
    assert m.hit_rate([1, -1, 2, 0, np.nan], [0.5, 0.2, 0.1, 1.0, 1.0]) == pytest.approx(2 / 3)
    assert np.isnan(m.hit_rate([0, 0], [1, 1]))
    with pytest.raises(ValueError, match="differ in length"):
        m.hit_rate([1, 2], [1])


def test_summarize_keys():
    out = m.summarize(R, turnover=[1.0] * 5)
    assert set(out) == {
        "sharpe",
        "ann_ret",
        "ann_vol",
        "sortino",
        "max_dd",
        "calmar",
        "win_rate",
        "profit_factor",
        "recovery_days",
        "n_periods",
        "turnover",
    }
    assert out["n_periods"] == 5.0
