"""Allocation models: EMA trend, regime rotation and skfolio HRP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from poc.allocation.errors import AllocationError
from poc.allocation.models import EMAAllocation, RegimeRotation, allocate_scores
from poc.allocation.optimizer import HRPAllocation
from poc.allocation.regime import REGIMES
from poc.allocation.schema import check_weights_history
from poc.allocation.sleeves import DEFAULT_COMPATIBILITY, asset_compatibility


@pytest.fixture
def trending(make_panel):
    # A0-A2 trend up, A3-A5 trend down, little noise.
    return make_panel(200, 6, drift=[0.004, 0.003, 0.002, -0.002, -0.003, -0.004], vol=0.002)


def test_ema_holds_the_up_trends_equally(trending):
    model = EMAAllocation(fast_span=10, slow_span=40, top_k=5, max_weight=0.4).fit(trending)
    last = model.target_weights_.iloc[-1]
    np.testing.assert_allclose(last[["A0", "A1", "A2"]], 1 / 3, atol=1e-12)
    assert (last[["A3", "A4", "A5"]] == 0).all()
    # Warm-up: no row before slow_span prices exist; rows only on month starts.
    assert model.target_weights_.index[0] >= trending.index[39]
    months = trending.index.to_period("M")
    first_of_month = trending.index[~months.duplicated()]
    assert model.target_weights_.index.isin(first_of_month).all()


def test_ema_caps_and_keeps_the_rest_in_cash_when_few_assets_qualify(trending):
    model = EMAAllocation(fast_span=10, slow_span=40, top_k=2, max_weight=0.4).fit(trending)
    last = model.target_weights_.iloc[-1]
    np.testing.assert_allclose(last[["A0", "A1"]], 0.4, atol=0)
    assert last.sum() == pytest.approx(0.8, abs=1e-15)


def test_ema_score_weighting_follows_the_scores(trending):
    model = EMAAllocation(fast_span=10, slow_span=40, top_k=3, weighting="score", max_weight=1.0)
    model.fit(trending)
    last = model.target_weights_.iloc[-1]
    assert last["A0"] > last["A1"] > last["A2"] > 0
    assert last.sum() == pytest.approx(1.0, abs=1e-12)


def test_ema_is_a_scikit_learn_estimator():
    model = EMAAllocation(top_k=3, max_weight=0.5)
    assert clone(model).get_params()["top_k"] == 3
    assert not hasattr(model, "target_weights_")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"fast_span": 50, "slow_span": 20},
            r"fast_span \(50\) must be shorter than slow_span \(20\)",
        ),
        ({"weighting": "rank"}, "weighting must be 'equal' or 'score'"),
        ({"max_weight": 1.5}, r"max_weight must be in \(0, 1\]"),
        ({"min_weight": 0.5, "max_weight": 0.4}, r"min_weight must be in \[0, max_weight=0.4\]"),
        ({"max_weight": 0.4, "min_weight": 0.35}, "needs at least 3 assets and 3 x 0.35 > 1"),
        ({"rebalance": "yearly"}, "rebalance must be one of"),
    ],
)
def test_ema_bad_parameters_are_refused_at_fit(trending, params, message):
    with pytest.raises(AllocationError, match=message):
        EMAAllocation(**params).fit(trending)


def per_asset_matrix(columns, value=1.0, zero=()):
    matrix = pd.DataFrame(value, index=list(REGIMES), columns=columns)
    matrix[list(zero)] = 0.0
    return matrix


def test_regime_rotation_respects_compatibility_caps_and_minimum(prices, benchmark):
    matrix = per_asset_matrix(prices.columns, zero=["A0", "A1"])
    model = RegimeRotation(compatibility=matrix, momentum_window=20, max_weight=0.3,
                           min_weight=0.1, rebalance="weekly").fit(prices, benchmark)  # fmt: skip
    targets = model.target_weights_
    assert len(targets) > 5
    assert (targets[["A0", "A1"]] == 0).all().all()
    check_weights_history(targets, 0.3, 0.1, tol=0)
    sums = targets.sum(axis=1).to_numpy()
    expected = model.exposure_.loc[targets.index].to_numpy()
    np.testing.assert_allclose(sums, np.minimum(expected, 4 * 0.3), atol=1e-12)
    assert set(model.regimes_.loc[targets.index]) <= set(REGIMES)


def test_regime_rotation_scales_exposure_in_high_volatility(prices):
    calm = pd.Series(0.002 * np.sin(np.arange(len(prices))), index=prices.index)
    wild = pd.Series(0.04 * np.sin(np.arange(len(prices))), index=prices.index)
    matrix = per_asset_matrix(prices.columns)
    kw = dict(compatibility=matrix, momentum_window=20, vol_threshold=0.3, vol_scale=0.5)
    low = RegimeRotation(**kw).fit(prices, calm).target_weights_
    high = RegimeRotation(**kw).fit(prices, wild).target_weights_
    np.testing.assert_allclose(low.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(high.sum(axis=1), 0.5, atol=1e-12)


def test_regime_rotation_needs_sectors_for_the_sector_matrix(prices, benchmark):
    with pytest.raises(
        AllocationError, match=r"no compatibility column for 6 asset\(s\).*sectors="
    ):
        RegimeRotation().fit(prices, benchmark)
    with pytest.raises(AllocationError, match="needs benchmark returns"):
        RegimeRotation(compatibility=per_asset_matrix(prices.columns)).fit(prices)


def test_sector_matrix_expands_to_assets():
    sectors = {"AAA": "Energy", "BBB": "Health Care"}
    expanded = asset_compatibility(DEFAULT_COMPATIBILITY, pd.Index(["AAA", "BBB"]), sectors)
    assert (
        expanded.loc["breaking_vol", "BBB"]
        == DEFAULT_COMPATIBILITY.loc["breaking_vol", "Health Care"]
    )
    assert list(expanded.index) == list(REGIMES)
    with pytest.raises(AllocationError, match=r"lacks regime rows \['choppy'\]"):
        asset_compatibility(DEFAULT_COMPATIBILITY.drop(index="choppy"), pd.Index(["AAA"]), sectors)
    with pytest.raises(AllocationError, match="finite and >= 0"):
        asset_compatibility(-DEFAULT_COMPATIBILITY, pd.Index(["AAA"]), sectors)


def test_hrp_refits_on_a_trailing_window_and_respects_caps(make_panel):
    panel = make_panel(260, 5, seed=3)
    model = HRPAllocation(lookback=60, max_weight=0.3, min_weight=0.05).fit(panel)
    targets = model.target_weights_
    assert model.n_fits_ == len(targets) > 5
    assert targets.index[0] >= panel.index[60]
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-12)
    check_weights_history(targets, 0.3, 0.05, tol=0)


def test_allocate_scores_is_proportional_when_no_rule_binds():
    w = allocate_scores(np.array([1.0, 2.0, np.nan, 0.0, 1.0]), 0.8, 0.5, 0.0)
    np.testing.assert_allclose(w, [0.2, 0.4, 0.0, 0.0, 0.2], atol=1e-15)
    np.testing.assert_array_equal(allocate_scores(np.array([-1.0, 0.0]), 1.0, 0.5, 0.0), [0, 0])
