"""Stationary bootstrap intervals: metrics match poc.metrics, blocks, seeding, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from poc import metrics
from poc.bootstrap import (
    METRICS,
    paired_difference_intervals,
    stationary_indices,
)


def test_row_metrics_match_the_metrics_module(rng):
    r = rng.normal(0.0004, 0.01, 600)
    assert METRICS["sharpe"](r) == pytest.approx(metrics.sharpe_ratio(r))
    assert METRICS["cagr"](r) == pytest.approx(metrics.annual_return(r))
    assert METRICS["ann_vol"](r) == pytest.approx(metrics.annual_volatility(r))
    assert METRICS["max_dd"](r) == pytest.approx(metrics.max_drawdown(r))
    rows = np.vstack([r, r[::-1]])
    np.testing.assert_allclose(METRICS["sharpe"](rows), [metrics.sharpe_ratio(r)] * 2)


def test_indices_keep_blocks_and_wrap(rng):
    idx = stationary_indices(100, 400, block=10.0, rng=rng)
    assert idx.shape == (400, 100) and idx.min() >= 0 and idx.max() < 100
    steps = (np.diff(idx, axis=1) % 100) == 1
    # A new block starts with probability 1/10 (and may continue by chance 1/100).
    assert 1 - steps.mean() == pytest.approx(0.1 * 0.99, abs=0.01)
    iid = stationary_indices(100, 50, block=1.0, rng=rng)
    assert ((np.diff(iid, axis=1) % 100) == 1).mean() < 0.05


def test_seeded_and_identical_series_give_zero():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.01, 300)
    b = a + rng.normal(0.0002, 0.002, 300)
    first = paired_difference_intervals(a, b, seed=3, n_boot=300)
    again = paired_difference_intervals(a, b, seed=3, n_boot=300)
    assert first == again
    same = paired_difference_intervals(a, a, n_boot=200)
    for interval in same:
        assert interval.difference == 0 and interval.low == 0 and interval.high == 0


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="aligned"):
        paired_difference_intervals(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="no NaN"):
        paired_difference_intervals(np.array([0.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match="unknown metric"):
        paired_difference_intervals(np.zeros(5), np.zeros(5), metrics=("calmar",))
    with pytest.raises(ValueError, match="block length"):
        stationary_indices(5, 5, 0.5, np.random.default_rng(0))


def test_a_real_difference_is_detected():
    rng = np.random.default_rng(5)
    a = rng.normal(0.0, 0.01, 1500)
    b = a * 0.5 + rng.normal(0.0, 0.002, 1500)  # half the risk of a, same days
    vol = paired_difference_intervals(a, b, metrics=("ann_vol",), n_boot=400)[0]
    assert vol.high < 0 and not vol.covers_zero


def coverage_of_zero(trials: int, n_days: int, n_boot: int, seed: int) -> float:
    """Share of trials whose 95% Sharpe-difference interval covers 0, when both series are
    independent draws of one AR(1) process (the true difference is zero)."""
    rng = np.random.default_rng(seed)
    covered = 0
    for trial in range(trials):
        shocks = rng.normal(0.0003, 0.01, (2, n_days))
        series = shocks.copy()
        for t in range(1, n_days):  # mild autocorrelation: what blocks are for
            series[:, t] += 0.2 * series[:, t - 1]
        (interval,) = paired_difference_intervals(
            series[0], series[1], metrics=("sharpe",), n_boot=n_boot, seed=trial
        )
        covered += interval.covers_zero
    return covered / trials


def test_interval_covers_zero_for_identical_distributions_most_of_the_time():
    coverage = coverage_of_zero(trials=200, n_days=400, n_boot=300, seed=11)
    print(f"coverage of zero by the 95% Sharpe-difference interval: {coverage:.3f}")
    assert 0.88 <= coverage <= 0.995
