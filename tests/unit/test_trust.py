"""Trust statistics: the papers' worked numbers, by hand, and the degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from poc import trust

# Bailey and López de Prado (2014), "The Deflated Sharpe Ratio", section "A numerical
# example": 100 trials, variance of the trials' annualized Sharpe ratios 1/2, the selected
# strategy has annualized Sharpe 2.5 over 5 years of daily data (T = 1250, 250 a year),
# skewness -3 and kurtosis 10. The paper states SR_0 = 0.1132 (daily) and DSR = 0.9004.
PAPER = dict(sr_annual=2.5, periods=250, n=1250, skew=-3.0, kurt=10.0, trials=100, var_annual=0.5)


def _paper_daily():
    return PAPER["sr_annual"] / math.sqrt(PAPER["periods"]), PAPER["var_annual"] / PAPER["periods"]


def test_expected_max_sharpe_reproduces_the_dsr_paper():
    """By hand: sqrt(0.5/250) = 0.0447214; Phi^-1(1 - 1/100) = 2.3263479;
    Phi^-1(1 - 1/(100 e)) = 2.6800...; (1 - 0.5772157) * 2.3263479 + 0.5772157 * 2.68...
    = 2.5306...; times 0.0447214 = 0.1131720 (the paper prints 0.1132)."""
    _, var = _paper_daily()
    q1, q2 = stats.norm.ppf(0.99), stats.norm.ppf(1 - 1 / (100 * math.e))
    by_hand = math.sqrt(var) * ((1 - 0.5772156649015329) * q1 + 0.5772156649015329 * q2)
    got = trust.expected_max_sharpe(100, var)
    assert got == pytest.approx(by_hand, abs=1e-12)
    assert got == pytest.approx(0.1131720, abs=1e-6)
    assert round(got, 4) == 0.1132  # the paper's printed figure


def test_deflated_sharpe_reproduces_the_dsr_paper():
    """By hand: SR = 2.5 / sqrt(250) = 0.1581139; numerator (0.1581139 - 0.1131720)
    * sqrt(1249) = 1.5882...; denominator sqrt(1 + 3 * 0.1581139 + 9/4 * 0.1581139^2)
    = sqrt(1.5305917) = 1.2371708; z = 1.2838...; Phi(z) = 0.9003968 (paper: 0.9004)."""
    sr, var = _paper_daily()
    sr0 = trust.expected_max_sharpe(100, var)
    z = (sr - sr0) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr**2)
    got = trust.deflated_sharpe(sr, 1250, -3.0, 10.0, 100, var)
    assert got == pytest.approx(stats.norm.cdf(z), abs=1e-12)
    assert got == pytest.approx(0.9003968, abs=1e-6)
    assert round(got, 4) == 0.9004


def test_min_track_record_by_hand():
    """MinTRL (Bailey and López de Prado 2012) on the DSR paper's example: to prove the
    strategy beats SR_0 = 0.1131720 at 95%:
    1 + 1.5305917 * (1.6448536 / (0.1581139 - 0.1131720))^2 = 2051.2714 days, more than
    the 1250 observed, consistent with DSR 0.90 < 0.95. Against SR* = 0 it is
    1 + 1.5305917 * (1.6448536 / 0.1581139)^2 = 166.6433 days."""
    sr, var = _paper_daily()
    sr0 = trust.expected_max_sharpe(100, var)
    factor = 1 + 3 * sr + 9 / 4 * sr**2
    z = stats.norm.ppf(0.95)
    assert trust.min_track_record(sr, -3, 10, sr0) == pytest.approx(
        1 + factor * (z / (sr - sr0)) ** 2, abs=1e-9
    )
    assert trust.min_track_record(sr, -3, 10, sr0) == pytest.approx(2051.271427, abs=1e-6)
    assert trust.min_track_record(sr, -3, 10, 0.0) == pytest.approx(166.643289, abs=1e-6)
    # PSR at exactly MinTRL observations is the confidence asked for.
    n = trust.min_track_record(sr, -3, 10, sr0)
    assert trust.probabilistic_sharpe(sr, n, -3, 10, sr0) == pytest.approx(0.95, abs=1e-9)
    assert trust.min_track_record(0.01, 0, 3, 0.02) == math.inf


def test_psr_is_normal_test_for_normal_returns():
    # Skew 0, kurtosis 3: PSR(0) = Phi(SR sqrt(n-1) / sqrt(1 + SR^2 / 2)).
    sr, n = 0.05, 500
    expected = stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))
    assert trust.probabilistic_sharpe(sr, n) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(trust.probabilistic_sharpe(float("nan"), n))
    assert trust.expected_max_sharpe(1, 0.3) == 0.0
    assert trust.deflated_sharpe(sr, n, 0, 3, 1, 0.1) == pytest.approx(expected)


def test_sharpe_moments(rng):
    x = rng.standard_normal(2000) * 0.01 + 0.001
    sr, skew, kurt, n = trust.sharpe_moments(np.r_[x, np.nan])
    assert n == 2000
    assert sr == pytest.approx(x.mean() / x.std(ddof=1))
    assert skew == pytest.approx(stats.skew(x)) and kurt == pytest.approx(stats.kurtosis(x) + 3)
    assert math.isnan(trust.sharpe_moments([1.0, 1.0, 1.0])[0])


def test_moments_and_normal_functions_are_bit_identical_to_scipy_stats(rng):
    """poc.trust avoids importing scipy.stats (0.5 s a run): its skewness, kurtosis,
    normal cdf and quantile must equal scipy.stats' exactly, not approximately."""
    samples = [
        rng.standard_normal(252) * 0.01,
        rng.standard_t(3, 1000) * 0.02 + 0.001,
        rng.exponential(1.0, 37) - 1.0,
        np.round(rng.standard_normal(500), 2),
    ]
    for x in samples:
        skew, kurt = trust.skew_kurtosis(x)
        assert skew == float(stats.skew(x))
        assert kurt == float(stats.kurtosis(x, fisher=False))
    assert all(math.isnan(v) for v in trust.skew_kurtosis(np.full(10, 0.3)))
    for sr, n in ((-0.05, 30), (0.0, 252), (0.08, 1250), (0.3, 5000)):
        z = sr * math.sqrt(n - 1) / math.sqrt(max(1.0 + (3.0 - 1.0) / 4.0 * sr * sr, 1e-12))
        assert trust.probabilistic_sharpe(sr, n) == float(stats.norm.cdf(z))
    for n in (2, 7, 100, 12870):
        q1, q2 = stats.norm.ppf(1.0 - 1.0 / n), stats.norm.ppf(1.0 - 1.0 / (n * math.e))
        by_scipy = math.sqrt(0.3) * ((1.0 - trust.EULER_GAMMA) * q1 + trust.EULER_GAMMA * q2)
        assert trust.expected_max_sharpe(n, 0.3) == float(by_scipy)


def test_pbo_on_a_persistent_winner_is_zero_and_on_a_trap_is_high(rng):
    days = 1600
    noise = rng.standard_normal((days, 20)) * 0.01
    good = noise.copy()
    good[:, 0] += 0.004  # one cell earns an edge in every block: always the IS and OOS winner
    res = trust.pbo_cscv(good)
    assert res.pbo == 0.0 and res.n_splits == 12870 and res.logits.shape == (12870,)
    # A cell that wins hugely in half the blocks and loses in the other half is selected
    # in-sample whenever its good half is in-sample, and is then last out of sample.
    trap = noise.copy()
    block = days // 16
    for b in range(16):
        trap[b * block : (b + 1) * block, 0] += 0.02 if b % 2 == 0 else -0.02
    assert trust.pbo_cscv(trap).pbo > 0.4


def test_pbo_matches_a_loop_over_splits(rng):
    m = rng.standard_normal((64, 5))
    res = trust.pbo_cscv(m, n_blocks=4)
    blocks = np.array_split(np.arange(64), 4)
    logits = []
    import itertools

    for combo in itertools.combinations(range(4), 2):
        is_rows = np.concatenate([blocks[i] for i in combo])
        oos_rows = np.setdiff1d(np.arange(64), is_rows)
        is_sr = m[is_rows].mean(0) / m[is_rows].std(0, ddof=1)
        oos_sr = m[oos_rows].mean(0) / m[oos_rows].std(0, ddof=1)
        best = int(np.argmax(is_sr))
        rank = stats.rankdata(oos_sr)[best]
        w = rank / 6
        logits.append(math.log(w / (1 - w)))
    assert res.logits == pytest.approx(np.array(logits), abs=1e-9)
    assert res.pbo == pytest.approx(np.mean(np.array(logits) <= 0))


def test_pbo_degenerate():
    assert math.isnan(trust.pbo_cscv(np.zeros((100, 1))).pbo)
    assert math.isnan(trust.pbo_cscv(np.zeros((10, 5))).pbo)


def test_plateau_and_neighbours():
    axes = {"lag": [0, 1, 2], "fractile": ["a", "b"]}
    head = {"lag": 1, "fractile": "a"}
    cands = [
        {"lag": 0, "fractile": "a"},
        {"lag": 2, "fractile": "a"},
        {"lag": 1, "fractile": "b"},
        {"lag": 0, "fractile": "b"},
        {"lag": 1, "fractile": "a"},
    ]
    assert trust.grid_neighbours(head, cands, axes) == [0, 1, 2]
    assert trust.plateau_ratio(2.0, [1.0, 1.5, 3.0]) == pytest.approx(0.75)
    assert math.isnan(trust.plateau_ratio(-1.0, [1.0]))
    assert math.isnan(trust.plateau_ratio(1.0, []))


def test_newey_west_t_by_hand(rng):
    x = rng.standard_normal(300)
    lag = 3
    u = x - x.mean()
    n = len(x)
    lrv = u @ u / n + 2 * sum((1 - j / 4) * (u[j:] @ u[:-j]) / n for j in range(1, 4))
    assert trust.newey_west_t(x, lag) == pytest.approx(x.mean() / math.sqrt(lrv / n))
    # Lag 0 is the ordinary t with the biased (ddof=0) variance.
    assert trust.newey_west_t(x, 0) == pytest.approx(x.mean() / (x.std() / math.sqrt(n)))


def test_spanning_regression_recovers_alpha(rng):
    n = 3000
    b1, b2 = rng.standard_normal(n) * 0.01, rng.standard_normal(n) * 0.01
    y = 0.002 + 0.5 * b1 - 0.3 * b2 + rng.standard_normal(n) * 0.005
    res = trust.spanning_regression(y, {"mom": b1, "rev": b2}, lag=2)
    assert res.alpha == pytest.approx(0.002, abs=3e-4)
    assert res.betas["mom"] == pytest.approx(0.5, abs=0.02)
    assert res.alpha_t > 10 and res.n == n
    spanned = trust.spanning_regression(0.5 * b1 + rng.standard_normal(n) * 0.005, {"mom": b1})
    assert abs(spanned.alpha_t) < 4
    assert math.isnan(trust.spanning_regression(y[:3], {"mom": b1[:3]}).alpha)


def test_logit_histogram_and_missing_report():
    from types import SimpleNamespace

    from poc.trust_sheet import logit_histogram, trust_context

    svg = logit_histogram(np.array([-1.0, -0.5, 0.5, 1.0, 2.0]))
    assert svg.startswith('<svg class="chart"') and "overfit" in svg
    assert logit_histogram(np.array([])) == ""
    assert trust_context(SimpleNamespace(trust=None)) is None


def test_probability_metrics_are_rounded_for_the_runs_table():
    import math

    from poc.trust_suite import _probability

    assert _probability(1.879e-10) == 0.0  # never displayed as "1.879..."
    assert _probability(0.98765432) == 0.987654
    assert _probability(None) is None and math.isnan(_probability(float("nan")))


def test_logit_histogram_shares_are_positive_and_overfit_bins_marked():
    from poc.trust_sheet import logit_histogram, logit_shares

    logits = np.array([-2.5, -0.4, -0.4, -0.2, 0.3, 1.1, np.inf])
    labels, shares, overfit = logit_shares(logits)
    assert len(labels) == 8 and (shares >= 0).all()
    assert shares.sum() == pytest.approx(1.0)
    # The share left of 0 is the PBO of these splits (4 of the 6 finite logits).
    assert shares[overfit].sum() == pytest.approx(4 / 6)
    assert overfit.tolist() == [True] * 4 + [False] * 4
    assert "<svg" in logit_histogram(logits)
    assert logit_histogram(np.array([])) == ""
