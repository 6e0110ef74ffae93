"""Caps that cannot hold the invested fraction on the universe are refused, for every model."""

from __future__ import annotations

import pytest

from poc.allocation.errors import AllocationError
from poc.allocation.feasibility import check_cells_feasible, check_feasible, infeasibility
from poc.allocation.runner import AllocationConfig


@pytest.mark.parametrize("model", ["regime", "hrp"])
def test_caps_summing_below_invested_are_refused_for_regime_and_hrp(model):
    config = AllocationConfig(model=model, max_weight=0.02)
    with pytest.raises(AllocationError, match=r"max_weight 0.02 x 20 assets = 0.4 < invested 1"):
        check_feasible(config, 20)
    reason = infeasibility(config, 20)
    assert "raise max_weight to at least 0.05" in reason
    assert "lower invested to at most 0.4" in reason


@pytest.mark.parametrize("model", ["regime", "hrp", "ema"])
def test_feasible_caps_pass(model):
    assert infeasibility(AllocationConfig(model=model, max_weight=0.05, top_k=20), 20) is None


def test_ema_advice_never_asks_for_top_k_above_the_asset_count():
    # 0.02 x 20 names cannot hold 100%: top_k 50 would be needed, more than the 20 assets.
    reason = infeasibility(AllocationConfig(model="ema", max_weight=0.02, top_k=5), 20)
    assert "top_k" not in reason.split(";", 1)[1]
    assert "raise max_weight to at least 0.2" in reason


def test_ema_advice_suggests_a_top_k_the_universe_can_hold():
    reason = infeasibility(AllocationConfig(model="ema", max_weight=0.4, top_k=2), 20)
    assert "top_k 2 of 20 assets = 0.8 < invested 1" in reason
    assert "raise top_k to at least 3" in reason


def test_grid_check_names_every_infeasible_cell():
    cells = [
        ("a", AllocationConfig(model="hrp", max_weight=0.02)),
        ("b", AllocationConfig(model="hrp", max_weight=0.4)),
        ("c", AllocationConfig(model="regime", max_weight=0.03)),
    ]
    with pytest.raises(AllocationError, match=r"2 allocation cell\(s\) .*'a'.*'c'"):
        check_cells_feasible(cells, 20)
