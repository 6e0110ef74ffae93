"""Walk-forward: known choices, planted recovery, noise gives ~0 OOS Sharpe, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc import metrics
from poc.exceptions import ConfigError
from poc.walkforward import walk_forward, window_sharpes


def matrix(sharpes, years, seed, vol=0.01):
    """Daily returns with the given annual Sharpe per column (normal, iid)."""
    rng = np.random.default_rng(seed)
    n = 252 * years
    mu = np.asarray(sharpes) * vol / np.sqrt(252)
    values = rng.standard_normal((n, len(sharpes))) * vol + mu
    return pd.DataFrame(
        values,
        index=pd.bdate_range("2005-01-03", periods=n),
        columns=[f"cell{i}" for i in range(len(sharpes))],
    )


def test_window_sharpes_match_the_metric():
    m = matrix([0.5, 1.0, 0.0], 2, seed=1)
    m.iloc[3, 1] = np.nan
    expected = [metrics.sharpe_ratio(m[c]) for c in m]
    np.testing.assert_allclose(window_sharpes(m.to_numpy()), expected, rtol=1e-12)
    assert np.isnan(window_sharpes(np.zeros((10, 1))))[0]


def test_windows_tile_the_data_and_choose_the_trailing_best():
    m = matrix([0.0, 0.0], 6, seed=2)
    # cell1 is the best before 2008 (planted), cell0 after: choices must follow with a lag.
    m.loc[:"2007-12-31", "cell1"] += 0.002
    m.loc["2008-01-01":, "cell0"] += 0.002
    wf = walk_forward(
        m, train_days=252, test_days=252, params={"cell0": {"x": 0}, "cell1": {"x": 1}}
    )
    assert len(wf.windows) == 5
    assert wf.windows["test_start"].iloc[0] == m.index[252]
    assert (wf.windows["train_end"] < wf.windows["test_start"]).all()
    assert wf.windows["cell"].tolist()[:2] == ["cell1", "cell1"]
    assert wf.windows["cell"].iloc[-1] == "cell0"
    assert wf.windows["x"].iloc[-1] == 0
    first = wf.windows.iloc[0]
    traded = m.loc[first["test_start"] : first["test_end"], first["cell"]]
    pd.testing.assert_series_equal(
        wf.oos_returns.loc[first["test_start"] : first["test_end"]],
        traded.rename("walk_forward"),
    )
    assert len(wf.oos_returns) == len(m) - 252
    assert wf.metrics()["wf_windows"] == 5.0


def test_planted_cell_is_recovered_out_of_sample():
    # One cell with a true Sharpe of 2 among eight with none, 12 years.
    wf = walk_forward(matrix([2.0] + [0.0] * 8, 12, seed=11))
    assert (wf.windows["cell"] == "cell0").mean() >= 0.8
    assert wf.is_best_cell == "cell0"
    assert abs(wf.oos_sharpe - wf.is_best_sharpe) <= 0.3 * wf.is_best_sharpe


def test_noise_gives_oos_sharpe_near_zero():
    oos = [walk_forward(matrix([0.0] * 8, 10, seed=100 + s)).oos_sharpe for s in range(20)]
    best = [walk_forward(matrix([0.0] * 8, 10, seed=100 + s)).is_best_sharpe for s in range(3)]
    assert abs(np.mean(oos)) < 0.3
    assert min(best) > 0.3  # hindsight always finds a "good" noise cell; OOS does not


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train_days": 1}, "train_days must be >= 2"),
        ({"train_days": 2000}, "needs at least train_days \\+ test_days"),
    ],
)
def test_bad_windows_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        walk_forward(matrix([0.1], 3, seed=1), **kwargs)


def test_empty_grid_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one cell"):
        walk_forward(pd.DataFrame(index=pd.bdate_range("2020-01-01", periods=10)))


def test_walk_forward_over_lags_on_a_synthetic_planted_panel():
    """The engine on the synthetic planted-alpha panel (the generator of synthetic snapshots):
    lags 0-3 of the planted signal and three pure-noise signals; walk-forward must keep
    choosing lag 0 and recover its Sharpe out of sample."""
    from poc.bench import planted_panel
    from poc.engine import BacktestConfig, run_backtest

    panel, signal = planted_panel(300, 1512, seed=3)
    rng = np.random.default_rng(0)
    streams = {
        f"lag={lag}": run_backtest(panel, signal, BacktestConfig(lag=lag)).daily for lag in range(4)
    }
    for k in range(3):
        noise = np.where(np.isnan(signal), np.nan, rng.standard_normal(signal.shape))
        streams[f"noise{k}"] = run_backtest(panel, noise, BacktestConfig()).daily
    matrix = pd.concat({k: d.set_index("date")["net"] for k, d in streams.items()}, axis=1)
    wf = walk_forward(matrix, train_days=252, test_days=126)
    assert (wf.windows["cell"] == "lag=0").all()
    assert wf.is_best_cell == "lag=0"
    assert abs(wf.oos_sharpe - wf.is_best_sharpe) <= 0.3 * wf.is_best_sharpe
