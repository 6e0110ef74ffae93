"""An allocation cell that never held a position is a FAILED cell with a NoTradesError message."""

from __future__ import annotations

import numpy as np
import pandas as pd

from poc.allocation_suite import (
    allocation_no_trades_reason,
    allocation_spec_from_dict,
    run_allocation_suite,
)


def _daily(invested) -> pd.DataFrame:
    return pd.DataFrame({"invested": np.asarray(invested, dtype=float)})


def test_reason_is_empty_only_when_the_cell_traded_and_held_a_position():
    params = {"model": "ema", "delay": 0}
    assert allocation_no_trades_reason(_daily([0.0, 0.5, 1.0]), 3, params, 3) == ""
    idle = allocation_no_trades_reason(_daily([0.0, np.nan, 0.0]), 0, params, 3)
    assert idle.startswith("never traded: no target was executed") and "model ema" in idle
    late = allocation_no_trades_reason(_daily([]), 0, {"model": "ema", "delay": 500}, 300)
    assert "delay 500 pushes every target past the end of the data (300 days)" in late


def test_a_cell_that_never_traded_fails_and_the_suite_gets_no_grade(bundled_snapshot):
    spec = allocation_spec_from_dict(
        {"name": "idle", "grid": {"model": ["ema"], "delay": [100000]}}
    )
    result = run_allocation_suite(spec, bundled_snapshot)
    (cell,) = result.cells
    assert cell.status == "FAILED"
    assert cell.error.startswith("NoTradesError: never traded: delay 100000 pushes every target")
    assert any("NoTradesError" in note for note in result.notes)
    assert result.verdict.score is None and result.verdict.grade is None
    from poc.allocation_sheet import allocation_context
    from poc.tearsheet import render

    html = render("allocation.html.j2", allocation_context(result, {"run_id": "x"}))
    assert "never traded" in html
