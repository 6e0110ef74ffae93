"""run_allocation end to end: config validation, synthetic runs, the real bundled snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.allocation import (
    AllocationConfig,
    AllocationResult,
    allocation_inputs,
    allocation_sectors,
    check_weights_history,
    run_allocation,
)
from poc.allocation.errors import AllocationError


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "mvo"}, r"model must be one of \('ema', 'regime', 'hrp'\)"),
        ({"max_weight": 0}, r"max_weight must be in \(0, 1\]"),
        ({"min_weight": 0.5}, r"min_weight must be in \[0, max_weight=0.4\]"),
        ({"min_weight": 0.35}, r"investing 1 needs at least 3 assets and 3 x 0.35 > 1"),
        (
            {"model": "regime", "min_weight": 0.3},
            r"investing 0.5 needs at least 2 assets and 2 x 0.3 > 0.5\. "
            r"Lower min_weight to at most 0.25",
        ),
        ({"delay": -1}, "delay must be an integer >= 0"),
        ({"delay": 1.5}, "delay must be an integer >= 0"),
        ({"rebalance": "quarterly"}, "rebalance must be one of"),
        ({"slippage_bps": -2}, r"slippage_bps must be in \[0, 1000\)"),
        ({"vol_scale": 1.5}, r"vol_scale must be a number in \[0, 1\]"),
        ({"invested": 0}, r"invested must be a number in \(0, 1\]"),
        ({"fast_span": 100}, r"fast_span \(100\) must be shorter than slow_span \(100\)"),
    ],
)
def test_config_errors_are_clear(fields, message):
    with pytest.raises(AllocationError, match=message):
        AllocationConfig(**fields)


def test_config_is_frozen_and_flat():
    config = AllocationConfig(model="hrp")
    with pytest.raises(AttributeError):
        config.model = "ema"
    params = config.to_params()
    assert params["model"] == "hrp" and all(np.isscalar(v) for v in params.values())


@pytest.mark.parametrize("model", ["ema", "regime", "hrp"])
def test_run_allocation_on_a_synthetic_panel(make_panel, model):
    panel = make_panel(400, 5, seed=11, drift=[0.001, 0.0005, 0.0, -0.0005, 0.0002])
    bench = panel.pct_change().mean(axis=1)
    sectors = {"A0": "Energy", "A1": "Health Care", "A2": "Financials", "A3": "Utilities",
               "A4": "Information Technology"}  # fmt: skip
    config = AllocationConfig(model=model, max_weight=0.5, min_weight=0.05, top_k=3,
                              slow_span=60, lookback=60, rebalance="weekly", delay=1)  # fmt: skip
    result = run_allocation(panel, bench, config, sectors=sectors)
    assert isinstance(result, AllocationResult)
    check_weights_history(result.execution.weights_history, 0.5, 0.05)
    assert len(result.execution.trades) > 0
    np.testing.assert_allclose(result.contributions.sum(axis=1), result.returns, atol=1e-13)
    assert result.returns.index[0] == result.execution.weights_history.index[0]
    assert np.isfinite(result.metrics["sharpe"]) and np.isfinite(result.metrics["beta"])
    assert result.attribution_by_sector is not None
    assert result.regime_distribution["days"].sum() == len(result.returns)


def test_allocation_inputs_from_the_real_snapshot(real_snapshot):
    prices, bench = allocation_inputs(real_snapshot)
    assert prices.shape == (8313, 20)
    assert "AAPL" in prices.columns and prices.index.is_monotonic_increasing
    # The first date has no return row in the snapshot, hence no close either.
    assert prices.iloc[0].isna().all() and prices.iloc[1:].notna().all().all()
    assert bench.index.equals(prices.index) and bench.iloc[1:].notna().all()
    returns = real_snapshot.read("returns", ["security_id", "date", "ret"])
    aapl = returns[returns["security_id"] == 1].set_index("date")["ret"]
    later = aapl.index[1:]  # the first return needs the close of date 0, which has no row
    np.testing.assert_allclose(prices["AAPL"].pct_change().loc[later], aapl.loc[later], rtol=1e-9)
    assert allocation_sectors(real_snapshot)["XOM"] == "Energy"


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("ema", {}),
        ("regime", {"min_weight": 0.05, "no_trade_band": 0.01}),
        ("hrp", {"max_weight": 0.1}),
    ],
)
def test_real_snapshot_weights_respect_their_caps(real_snapshot, model, extra):
    prices, bench = allocation_inputs(real_snapshot)
    if model == "hrp":
        # skfolio refits cost ~30 ms each: the last five years keep this test quick.
        prices, bench = prices.loc["2018":], bench.loc["2018":]
    config = AllocationConfig(model=model, commission_bps=2, slippage_bps=5, **extra)
    result = run_allocation(prices, bench, config, sectors=allocation_sectors(real_snapshot))
    weights = result.execution.weights_history
    assert len(weights) > 40
    cap = config.max_weight
    assert (weights.to_numpy() <= cap + 1e-12).all(), weights.max().max()
    check_weights_history(weights, cap, config.min_weight, tol=1e-12)
    assert (result.execution.cash >= 0).all()
    assert result.metrics["n_periods"] == len(result.returns)


def test_run_allocation_refuses_a_bad_config_type(prices, benchmark):
    with pytest.raises(TypeError, match="AllocationConfig"):
        run_allocation(prices, benchmark, {"model": "ema"})


def test_run_allocation_with_data_shorter_than_the_warm_up(make_panel):
    panel = make_panel(50, 3)
    bench = pd.Series(0.001, index=panel.index)
    result = run_allocation(panel, bench, AllocationConfig(top_k=3))
    assert result.execution.weights_history.empty and result.returns.empty
    assert result.notes and "no target was ever executed" in result.notes[0]


def _file_snapshot(tmp_path, with_benchmark: bool):
    from poc.catalog import create_snapshot
    from poc.sources import from_files

    dates = pd.bdate_range("2021-01-04", periods=4)
    returns = pd.DataFrame(
        {
            "security_id": [1, 2, 1, 2, 1, 2, 2],
            "date": [dates[0], dates[0], dates[1], dates[1], dates[2], dates[2], dates[3]],
            "ret": [0.0, 0.01, 0.1, -0.02, np.nan, 0.03, 0.01],
        }
    )
    returns.to_csv(tmp_path / "ret.csv", index=False)
    pd.DataFrame(
        {"security_id": [1, 2], "ticker": ["AAA", "BBB"], "sector": ["Energy", ""]}
    ).to_csv(tmp_path / "sec.csv", index=False)
    bench = None
    if with_benchmark:
        pd.DataFrame({"date": dates, "ret": [0.0, 0.01, 0.02, -0.01]}).to_csv(
            tmp_path / "bench.csv", index=False
        )
        bench = tmp_path / "bench.csv"
    data = from_files(
        tmp_path / "ret.csv", securities_path=tmp_path / "sec.csv", benchmark_path=bench
    )
    name = "files-b" if with_benchmark else "files"
    return create_snapshot(data, tmp_path / "store", name)


def test_allocation_inputs_without_close_adj_builds_a_return_index(tmp_path):
    snapshot = _file_snapshot(tmp_path, with_benchmark=True)
    prices, bench = allocation_inputs(snapshot)
    assert list(prices.columns) == ["AAA", "BBB"]
    # Prices exist where a return was observed: AAA has a NaN return on day 2 and no
    # row on day 3, so it has no price (is not tradable) on either day.
    np.testing.assert_allclose(prices["AAA"].to_numpy(), [1.0, 1.1, np.nan, np.nan])
    np.testing.assert_allclose(prices["BBB"].pct_change().iloc[1:], [-0.02, 0.03, 0.01])
    assert bench.iloc[2] == pytest.approx(0.02)
    assert allocation_sectors(snapshot) == {"AAA": "Energy"}


def test_allocation_inputs_needs_a_benchmark(tmp_path):
    snapshot = _file_snapshot(tmp_path, with_benchmark=False)
    with pytest.raises(AllocationError, match="has no benchmark table"):
        allocation_inputs(snapshot)


def test_shared_fit_gives_identical_results_and_key_ignores_execution():
    from poc.allocation.runner import fit_model, model_key

    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2015-01-01", periods=400)
    prices = pd.DataFrame(
        100 * np.cumprod(1 + rng.normal(0.0004, 0.01, (400, 6)), axis=0),
        index=dates,
        columns=list("ABCDEF"),
    )
    bench = pd.Series(rng.normal(0.0003, 0.008, 400), index=dates)
    base = AllocationConfig(model="ema", top_k=3, max_weight=0.4, commission_bps=5, delay=0)
    other = AllocationConfig(model="ema", top_k=3, max_weight=0.4, commission_bps=10, delay=2)
    assert model_key(base) == model_key(other)
    assert model_key(base) != model_key(AllocationConfig(model="ema", top_k=4, max_weight=0.4))
    model = fit_model(prices, bench, other)
    shared = run_allocation(prices, bench, other, fitted=model)
    fresh = run_allocation(prices, bench, other)
    pd.testing.assert_series_equal(shared.returns, fresh.returns)
    pd.testing.assert_frame_equal(shared.execution.weights_history, fresh.execution.weights_history)
