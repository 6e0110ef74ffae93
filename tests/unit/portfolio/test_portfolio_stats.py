"""Trade statistics on a named ledger with known values, and the control's bound."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from poc.portfolio import acceptance
from poc.portfolio.stats import (
    beats,
    control_bound,
    expectancy_without_top,
    max_consecutive_losses,
    profit_factor,
    random_scores,
    trade_stats,
)


def ledger(returns, r_multiples=None, days=None) -> pd.DataFrame:
    returns = np.asarray(returns, dtype=float)
    return pd.DataFrame(
        {
            "return": returns,
            "pnl": returns * 1000.0,
            "r_multiple": returns * 10 if r_multiples is None else r_multiples,
            "days_held": np.ones(returns.size) if days is None else days,
        }
    )


def test_known_values():
    returns = [0.10, -0.05, -0.02, -0.01, 0.03, -0.04, 0.0, 0.02]
    stats = trade_stats(ledger(returns, days=[1, 2, 3, 4, 5, 6, 7, 8]))
    assert stats["n_trades"] == 8
    assert stats["hit_rate"] == pytest.approx(3 / 8)
    assert stats["median_trade"] == pytest.approx(-0.005)
    assert stats["expectancy"] == pytest.approx(0.03 / 8)
    assert stats["mean_r"] == pytest.approx(0.3 / 8)
    # ceil(0.05 x 8) = 1 winner removed: the 0.10
    assert stats["expectancy_ex_top5"] == pytest.approx(-0.07 / 7)
    assert stats["profit_factor"] == pytest.approx(150.0 / 120.0)
    assert stats["max_consecutive_losses"] == 3
    assert stats["mean_days_held"] == pytest.approx(4.5)


def test_degenerate_inputs_are_nan_not_errors():
    empty = trade_stats(ledger([]))
    assert empty["n_trades"] == 0 and np.isnan(empty["expectancy"])
    assert np.isnan(profit_factor([1.0, 2.0]))
    assert max_consecutive_losses([]) == 0
    assert np.isnan(expectancy_without_top([0.5]))
    assert np.isnan(control_bound([np.nan]))
    assert not beats(np.nan, 0.0) and not beats(1.0, np.nan) and beats(0.2, 0.1)


def test_random_scores_keep_the_support_and_the_seed():
    signal = np.array([[1.0, np.nan], [np.nan, 2.0]])
    a, b = random_scores(signal, 3), random_scores(signal, 3)
    np.testing.assert_array_equal(a, b)
    assert np.isnan(a[0, 1]) and np.isnan(a[1, 0]) and np.isfinite(a[0, 0])


def test_planted_beats_the_control_and_noise_does_not(capsys):
    """Acceptance (``python -m poc.portfolio.acceptance``): 20 seeds, 10 random-entry draws;
    planted: positive expectancy and beating the control in >= 18; noise beats it in <= 4."""
    assert acceptance.main([]) == 0
    out = capsys.readouterr().out
    rows = {
        m.group(1): [int(v) for v in m.group(2, 3, 4, 5)]
        for m in re.finditer(r"^(planted|noise)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
    }
    print(out)
    seeds, _, _, planted_both = rows["planted"]
    noise_seeds, _, noise_beats, _ = rows["noise"]
    assert seeds == 20 and noise_seeds == 20
    assert planted_both >= 18
    assert noise_beats <= 4


def test_bench_script_prints_a_row():
    from poc.portfolio import bench

    assert bench.main(["--sizes", "20x300", "--repeat", "1"]) == 0
