"""Trailing windows (MTD, QTD, YTD, 1Y, 3Y, since inception) on hand-built series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.metrics import sharpe_ratio
from poc.trailing import nav_from_returns, trailing_table, window_start_boundary, window_stats


def _series(start: str, end: str, value: float = 0.001) -> pd.Series:
    dates = pd.bdate_range(start, end)
    return pd.Series(value, index=dates)


def test_boundaries_of_each_window():
    as_of = pd.Timestamp("2022-08-17")
    assert window_start_boundary("MTD", as_of) == pd.Timestamp("2022-07-31")
    assert window_start_boundary("QTD", as_of) == pd.Timestamp("2022-06-30")
    assert window_start_boundary("YTD", as_of) == pd.Timestamp("2021-12-31")
    assert window_start_boundary("1Y", as_of) == pd.Timestamp("2021-08-17")
    assert window_start_boundary("3Y", as_of) == pd.Timestamp("2019-08-17")
    assert window_start_boundary("SI", as_of) is None
    with pytest.raises(ValueError, match="unknown window 'WTD'"):
        window_start_boundary("WTD", as_of)


def test_mtd_compounds_the_days_of_the_month():
    # 2022-08-01..2022-08-17 holds 13 business days, each +1%.
    returns = _series("2022-06-01", "2022-08-17", 0.01)
    stats = window_stats(returns, "MTD")
    assert stats.days == 13
    assert stats.start == pd.Timestamp("2022-08-01")
    assert stats.total_return == pytest.approx(1.01**13 - 1)
    # A constant series has zero variance: Sharpe is NaN, never an exception.
    assert np.isnan(stats.sharpe)


def test_qtd_and_ytd_take_days_after_the_boundary():
    returns = _series("2021-11-01", "2022-08-17", 0.0)
    returns.loc["2021-12-31"] = 0.5  # before YTD: must be excluded
    returns.loc["2022-06-30"] = 0.1  # in YTD, before QTD
    returns.loc["2022-07-01"] = 0.2  # first day of QTD
    assert window_stats(returns, "QTD").total_return == pytest.approx(0.2)
    assert window_stats(returns, "YTD").total_return == pytest.approx(1.1 * 1.2 - 1)


def test_sharpe_of_a_window_matches_the_metrics_module(rng):
    dates = pd.bdate_range("2019-01-01", "2022-12-30")
    returns = pd.Series(rng.normal(0.0005, 0.01, len(dates)), index=dates)
    one_year = window_stats(returns, "1Y")
    expected = returns[returns.index > pd.Timestamp("2021-12-30")]
    assert one_year.days == len(expected)
    assert one_year.sharpe == pytest.approx(sharpe_ratio(expected.to_numpy()))
    since = window_stats(returns, "SI")
    assert since.days == len(returns)
    assert since.total_return == pytest.approx(np.prod(1 + returns.to_numpy()) - 1)


def test_three_years_is_not_given_from_one_year_of_history():
    returns = _series("2021-06-01", "2022-08-17")
    table = trailing_table(returns).set_index("window")
    assert np.isnan(table.loc["3Y", "total_return"]) and table.loc["3Y", "days"] == 0
    assert np.isfinite(table.loc["1Y", "total_return"])
    assert list(table.index) == ["MTD", "QTD", "YTD", "1Y", "3Y", "SI"]


def test_empty_series_gives_nan():
    stats = window_stats(pd.Series([], dtype=float, index=pd.DatetimeIndex([])), "YTD")
    assert stats.days == 0 and np.isnan(stats.total_return)


def test_nav_from_returns_starts_at_base():
    assert nav_from_returns(np.array([0.1, -0.5]), 100.0) == pytest.approx([110.0, 55.0])
