"""Comparison computations: periods x variants, coverage rule, differences on common days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc import compare
from poc.exceptions import ConfigError


def _stream(start: str, end: str, value: float) -> pd.Series:
    dates = pd.bdate_range(start, end)
    return pd.Series(value, index=dates)


def test_periods_table_years_and_crises(monkeypatch):
    crisis = compare.Period(
        "test crash", pd.Timestamp("2020-02-19"), pd.Timestamp("2020-03-23"), "crisis"
    )
    outside = compare.Period(
        "old", pd.Timestamp("1998-07-17"), pd.Timestamp("1998-10-08"), "crisis"
    )
    monkeypatch.setattr(compare, "crisis_periods", lambda: [crisis, outside])
    streams = {
        "a": _stream("2019-01-01", "2021-12-31", 0.001),
        "b": _stream("2019-07-01", "2021-12-31", -0.001),  # starts mid-2019
    }
    table = compare.periods_table(streams)
    assert list(table.index) == ["test crash", "2019", "2020", "2021"]  # "old" is outside
    assert table.loc["test crash", "kind"] == "crisis"
    n_2020 = len(pd.bdate_range("2020-01-01", "2020-12-31"))
    assert table.loc["2020", "a"] == pytest.approx(1.001**n_2020 - 1)
    assert table.loc["2020", "b"] == pytest.approx(0.999**n_2020 - 1)
    # b does not cover 2019 from its start: no figure rather than a half-year shown as a year.
    assert np.isnan(table.loc["2019", "b"]) and np.isfinite(table.loc["2019", "a"])
    n_crash = len(pd.bdate_range("2020-02-19", "2020-03-23"))
    assert table.loc["test crash", "a"] == pytest.approx(1.001**n_crash - 1)


def test_without_period_module_only_years(monkeypatch):
    monkeypatch.setattr(compare, "crisis_periods", lambda: [])
    table = compare.periods_table({"a": _stream("2020-01-01", "2020-12-31", 0.0)})
    assert list(table.index) == ["2020"] and table.loc["2020", "a"] == 0.0


def test_differences_use_common_days(rng):
    dates = pd.bdate_range("2020-01-01", periods=400)
    a = pd.Series(rng.normal(0, 0.01, 400), index=dates)
    b = pd.Series(rng.normal(0, 0.01, 400), index=dates).iloc[100:]
    (d,) = compare.differences({"a": a, "b": b}, n_boot=200)
    assert d.reference == "a" and d.other == "b" and d.n_days == 300
    assert d.first == dates[100]
    sharpe = next(iv for iv in d.intervals if iv.metric == "sharpe")
    assert sharpe.low <= sharpe.difference <= sharpe.high
    assert [iv.metric for iv in d.intervals] == list(compare.DIFF_METRICS)


def test_differences_refuse_too_few_common_days():
    a = _stream("2020-01-01", "2020-06-30", 0.001)
    b = _stream("2020-06-01", "2020-12-31", 0.001)
    with pytest.raises(ConfigError, match=r"share only \d+ day\(s\)"):
        compare.differences({"a": a, "b": b})
    with pytest.raises(ConfigError, match="at least two runs"):
        compare.differences({"a": a})


def test_nav_curves_compound():
    curves = compare.nav_curves(
        {"a": pd.Series([0.1, -0.1], index=pd.bdate_range("2020-01-01", periods=2))}
    )
    assert curves["a"].to_numpy() == pytest.approx([1.1, 0.99])


def test_headline_rows_of_signal_and_allocation_daily_tables():
    from poc.compare_run import headline_returns
    from poc.exceptions import PocError

    dates = pd.bdate_range("2020-01-01", periods=3)
    signal = pd.DataFrame(
        {
            "date": list(dates) * 2,
            "net": [0.1, 0.2, 0.3, 9.0, 9.0, 9.0],
            "name": ["base"] * 6,
            "kind": ["cell"] * 3 + ["baseline"] * 3,  # a baseline may share the cell's name
        }
    )
    assert headline_returns(signal, "base", "r1").tolist() == [0.1, 0.2, 0.3]
    allocation = pd.DataFrame({"date": dates, "net": [0.1, 0.0, -0.1], "name": "model=ema"})
    series = headline_returns(allocation, "model=ema", "r2")
    assert series.index.equals(dates) and series.tolist() == [0.1, 0.0, -0.1]
    with pytest.raises(PocError, match="no rows for its headline cell 'lag=1'"):
        headline_returns(signal, "lag=1", "r1")
