"""Signal evaluation: ranks, Spearman IC, forward returns, IC statistics, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from poc.evaluation import (
    MIN_WINDOWS,
    coverage,
    cross_sectional_corr,
    forward_returns,
    ic_decay,
    ic_stats,
    pnl_correlation,
    quantile_spread,
    row_ranks,
)


def test_row_ranks_match_scipy_with_ties_and_nans(rng):
    x = rng.integers(0, 4, (40, 25)).astype(float)
    x[rng.random(x.shape) < 0.25] = np.nan
    ours = row_ranks(x)
    ref = np.array([rankdata(row, nan_policy="omit") for row in x])
    np.testing.assert_allclose(ours, ref, equal_nan=True)


def test_spearman_matches_scipy_on_joint_mask(rng):
    a = rng.normal(size=(15, 30))
    b = 0.3 * a + rng.normal(size=a.shape)
    a[rng.random(a.shape) < 0.1] = np.nan
    b[rng.random(b.shape) < 0.1] = np.nan
    ours = cross_sectional_corr(a, b)
    for day in range(15):
        m = np.isfinite(a[day]) & np.isfinite(b[day])
        assert ours[day] == pytest.approx(spearmanr(a[day, m], b[day, m]).statistic, abs=1e-12)


def test_too_few_names_gives_nan():
    a = np.array([[1.0, 2.0, 3.0, np.nan, np.nan, np.nan]])
    assert np.isnan(cross_sectional_corr(a, a)[0])


def test_forward_returns_window_and_gaps():
    r = np.array([[0.01], [0.02], [-0.01], [0.03], [np.nan], [0.01]])
    f = forward_returns(r, horizon=2, lag=1)
    # Usable at day 0 with lag 1: days 2 and 3.
    assert f[0, 0] == pytest.approx(0.99 * 1.03 - 1)
    assert np.isnan(f[1, 0])  # days 3 and 4; day 4 has no return
    assert np.isnan(f[4, 0]) and np.isnan(f[5, 0])  # past the end
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        forward_returns(r, 0)


def test_ic_stats_non_overlapping_windows(rng):
    ic = 0.02 + 0.1 * rng.standard_normal(21 * 30 + 5)
    stats = ic_stats(ic)
    blocks = ic[: 21 * 30].reshape(30, 21).mean(axis=1)
    assert stats.n_windows == 30 and stats.reliable
    block_t = blocks.mean() / blocks.std(ddof=1) * np.sqrt(30)
    assert stats.block_t == pytest.approx(block_t)
    x = ic
    nw_t = x.mean() / (x.std() / np.sqrt(x.size))  # horizon 1: Newey-West lag 0
    assert stats.nw_t == pytest.approx(nw_t)
    assert stats.t_stat == pytest.approx(min(block_t, nw_t, key=abs))  # the conservative one
    assert stats.positive_share == pytest.approx(np.mean(ic > 0))
    short = ic_stats(ic[: 21 * (MIN_WINDOWS - 1)])
    assert not short.reliable and short.n_windows == MIN_WINDOWS - 1
    assert np.isnan(ic_stats(np.array([np.nan, 1.0])).mean)


def test_planted_ic_recovered_and_decays(rng):
    t, n = 400, 200
    sig = rng.standard_normal((t, n))
    ret = 0.01 * rng.standard_normal((t, n))
    ret[1:] += 0.01 * 0.2 * sig[:-1]  # the signal at d predicts day d+1 (lag 0)
    decay = ic_decay(sig, ret, lags=range(3))
    assert decay[0] > 0.15
    assert abs(decay[1]) < 0.03 and abs(decay[2]) < 0.03
    spread = quantile_spread(sig, ret)
    assert spread["spread_mean"] > 0 and spread["spread_t"] > 5


def test_coverage():
    sig = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan], [1.0, 2.0, np.nan]])
    ret = np.ones_like(sig)
    cov = coverage(sig, ret)
    assert cov == {
        "avg_names": 2.0,
        "universe_share": pytest.approx(2 / 3),
        "unique_securities": 3.0,
        "days": 2.0,
    }


def test_pnl_correlation():
    a = np.array([0.1, 0.2, np.nan, 0.4, 0.3])
    assert pnl_correlation(a, 2 * a) == pytest.approx(1.0)
    assert np.isnan(pnl_correlation(a, np.zeros(5)))


def test_no_dispersion_gives_nan_and_pearson_option(rng):
    tied = np.ones((1, 20))
    other = rng.normal(size=(1, 20))
    assert np.isnan(cross_sectional_corr(tied, other)[0])
    a = rng.normal(size=(3, 30))
    b = 2 * a + 1
    np.testing.assert_allclose(cross_sectional_corr(a, b, rank=False), 1.0)


def test_ranked_signal_ic_equals_cross_sectional_corr_bit_for_bit():
    import poc.evaluation as ev

    # Ties (rounded values), missing signals and returns, a short panel: every (horizon, lag)
    # IC from sorts done once equals ranking the joint mask afresh, exactly.
    rng = np.random.default_rng(7)
    t, n = 120, 40
    signal = np.round(rng.normal(size=(t, n)), 1)
    signal[rng.random((t, n)) < 0.2] = np.nan
    signal[:3] = np.nan
    returns = np.round(rng.normal(0, 0.02, size=(t, n)), 3)
    returns[rng.random((t, n)) < 0.05] = np.nan
    ranked = ev.RankedSignal(signal, returns)
    for horizon in (1, 5, 21):
        for lag in (0, 1, 2, 5, 130):
            expected = ev.cross_sectional_corr(signal, ev.forward_returns(returns, horizon, lag))
            np.testing.assert_array_equal(ranked.daily_ic(horizon, lag), expected)
    masked = np.isfinite(signal) & (rng.random((t, n)) < 0.7)
    np.testing.assert_array_equal(
        ev.masked_ranks(ev.row_order(signal), masked),
        ev.row_ranks(np.where(masked, signal, np.nan)),
    )


def test_ic_stats_newey_west_lag_is_horizon_minus_one(rng):
    from poc.trust import newey_west_t

    ic = 0.01 + 0.1 * rng.standard_normal(600)
    stats = ic_stats(ic, horizon=21)
    assert stats.nw_t == pytest.approx(newey_west_t(ic, 20))
    assert abs(stats.t_stat) == pytest.approx(min(abs(stats.block_t), abs(stats.nw_t)))
    assert "h21_ic_t_nw" in stats.as_dict("h21_")


def test_residual_signal_removes_a_baseline_and_keeps_the_rest(rng):
    from poc.evaluation import residual_ic, residual_signal

    days, names = 300, 80
    base = rng.standard_normal((days, names))
    own = rng.standard_normal((days, names))
    signal = base + 0.0 * own
    resid = residual_signal(signal, [base])
    assert np.nanmax(np.abs(resid)) < 1e-8  # a baseline in disguise has nothing left
    mixed = residual_signal(base + own, [base])
    corr = cross_sectional_corr(mixed, own)
    assert np.nanmean(corr) > 0.6
    # Residual IC: returns driven by `own`; the residual keeps the IC, a pure baseline has none.
    ret = np.full((days, names), np.nan)
    ret[1:] = 0.01 * own[:-1] + 0.01 * rng.standard_normal((days - 1, names))
    assert residual_ic(base + own, ret, [base], horizon=1).mean > 0.3
    # A small own component drowned in a baseline: raw IC near 0, residual IC clearly positive.
    weak = base + 0.01 * own
    raw = np.nanmean(cross_sectional_corr(weak, np.roll(ret, -1, axis=0)))
    assert abs(raw) < 0.05 and residual_ic(weak, ret, [base], horizon=1).mean > 0.1
    nan_day = base.copy()
    nan_day[5, :] = np.nan
    assert np.isnan(residual_signal(own, [nan_day])[5]).all()
