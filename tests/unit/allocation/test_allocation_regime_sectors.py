"""The regime model on a universe without GICS sectors: refused up front, with the fix."""

from __future__ import annotations

import pytest

from poc.allocation.errors import AllocationError
from poc.allocation.inputs import allocation_inputs, allocation_sectors
from poc.allocation.sleeves import check_regime_sectors, unmatched_assets
from poc.allocation_suite import (
    allocation_spec_from_dict,
    apply_allocation_overrides,
    run_allocation_suite,
)
from poc.catalog import create_snapshot
from poc.exceptions import PocError
from poc.sources import synthetic_panel


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    # Synthetic snapshots carry industry codes (IND01...), not GICS sector names.
    return create_snapshot(synthetic_panel(12, 400, seed=5), tmp_path_factory.mktemp("s"), "syn")


def test_unmatched_assets_accepts_an_own_column_or_a_sector_column():
    columns = ["Energy", "XYZ"]
    sectors = {"A": "Energy", "B": "IND01"}
    assert unmatched_assets(columns, ["A", "B", "XYZ", "C"], sectors) == ["B", "C"]


def test_regime_on_a_synthetic_snapshot_is_refused_before_any_cell_runs(synthetic):
    spec = allocation_spec_from_dict({"name": "r", "grid": {"model": ["ema", "regime"]}})
    with pytest.raises(AllocationError) as caught:
        run_allocation_suite(spec, synthetic)
    assert isinstance(caught.value, PocError)
    message = str(caught.value)
    assert "model regime cannot run on snapshot 'syn'" in message
    assert "12 of 12 assets have no GICS sector" in message and "IND" in message
    assert "--model ema,hrp" in message
    # The fix the message names (what `poc allocate --model ema,hrp` does) runs every cell.
    fixed = run_allocation_suite(apply_allocation_overrides(spec, {"model": "ema,hrp"}), synthetic)
    assert [c.status for c in fixed.cells] == ["FINISHED", "FINISHED"]


def test_the_bundled_gics_universe_passes_the_regime_check(bundled_snapshot):
    prices, _ = allocation_inputs(bundled_snapshot)
    sectors = allocation_sectors(bundled_snapshot)
    assert check_regime_sectors(list(prices.columns), sectors, "sp500-v1") is None
    with pytest.raises(AllocationError, match="1 of 20 assets"):
        one_off = {**sectors, prices.columns[0]: "IND01"}
        check_regime_sectors(list(prices.columns), one_off, "sp500-v1")
