"""Analytics: metrics vs a benchmark, attribution identities, rotation counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.allocation import analytics
from poc.allocation.execution import simulate_execution
from poc.metrics import summarize


@pytest.fixture
def executed(prices):
    dates = prices.index
    targets = pd.DataFrame(
        [[0.4, 0.3, 0.3, 0, 0, 0], [0.4, 0.3, 0.3, 0, 0, 0], [0, 0, 0.2, 0.4, 0.4, 0]],
        index=[dates[10], dates[40], dates[90]],
        columns=prices.columns,
    )
    return simulate_execution(
        prices, targets, rebalance="monthly", commission_bps=5, slippage_bps=5
    )


def test_contributions_add_up_to_net_returns_every_day(executed):
    contributions = analytics.daily_contributions(executed)
    returns = executed.nav.pct_change().iloc[1:]
    np.testing.assert_allclose(contributions.sum(axis=1), returns, atol=1e-14)
    assert (contributions["costs"] <= 0).all()


def test_attribution_by_asset_and_sleeve_sum_to_the_total(executed):
    contributions = analytics.daily_contributions(executed)
    by_asset = analytics.attribution_by_asset(contributions)
    by_sleeve = analytics.attribution_by_asset(
        contributions, {"A0": "tech", "A1": "tech", "A2": "energy", "A3": "energy"}
    )
    total = contributions.to_numpy().sum()
    assert by_asset["contribution"].sum() == pytest.approx(total, abs=1e-14)
    assert by_sleeve["contribution"].sum() == pytest.approx(total, abs=1e-14)
    assert set(by_sleeve.index) == {"tech", "energy", "other", "costs"}
    assert by_asset.loc["A5", "contribution"] == 0.0  # never held


def test_benchmark_metrics_known_values(rng):
    dates = pd.bdate_range("2020-01-01", periods=500)
    bench = pd.Series(0.01 * rng.standard_normal(500), index=dates)
    doubled = analytics.benchmark_metrics(2 * bench, bench)
    assert doubled["beta"] == pytest.approx(2.0, rel=1e-12)
    assert doubled["correlation"] == pytest.approx(1.0, rel=1e-12)
    active = pd.Series(0.001 + 0.002 * rng.standard_normal(500), index=dates)
    m = analytics.benchmark_metrics(bench + active, bench)
    te = active.std(ddof=1) * np.sqrt(252)
    assert m["tracking_error"] == pytest.approx(te, rel=1e-12)
    assert m["information_ratio"] == pytest.approx(active.mean() * 252 / te, rel=1e-12)
    for key, value in summarize(bench + active).items():
        assert m[key] == pytest.approx(value, nan_ok=True)
    same = analytics.benchmark_metrics(bench, bench)
    assert same["tracking_error"] == 0.0 and np.isnan(same["information_ratio"])


def test_rotation_frequency_counts_changes(executed):
    rotation = analytics.rotation_frequency(executed)
    # Monthly signals act on the latest target: first target (from cash), the same
    # target again in later months (no rotation), and one switch to the last target.
    assert rotation["n_rotations"] == 2
    assert rotation["n_holdings_changes"] == 2
    assert rotation["n_rebalances"] == len(executed.weights_history)
    positions = executed.nav.index.get_indexer(executed.weights_history.index)
    switch = [positions[0], executed.nav.index.get_loc(executed.nav.index[91])]
    assert rotation["mean_days_between_rotations"] == pytest.approx(np.diff(switch)[0], abs=25)


def test_attribution_by_regime_uses_the_regime_of_the_previous_day():
    dates = pd.bdate_range("2020-01-01", periods=4)
    returns = pd.Series([np.nan, 0.01, 0.02, -0.01], index=dates)
    regimes = pd.Series(["trend_up", "trend_up", "choppy", "choppy"], index=dates)
    table = analytics.attribution_by_regime(returns.iloc[1:], regimes)
    assert table.loc["trend_up", "total"] == pytest.approx(0.03)  # days 1 and 2
    assert table.loc["choppy", "total"] == pytest.approx(-0.01)
    assert table.loc["trend_up", "days"] == 2


def test_exposure_and_regime_distribution(executed):
    exposure = analytics.exposure(executed)
    np.testing.assert_allclose(exposure["invested"] + exposure["cash"], 1.0, atol=1e-12)
    assert exposure["n_holdings"].max() == 3
    regimes = pd.Series(["a", "b", "b", "b"], index=pd.bdate_range("2020-01-01", periods=4))
    table = analytics.regime_distribution(regimes)
    assert table.loc["b", "days"] == 3 and table.loc["b", "share"] == 0.75
