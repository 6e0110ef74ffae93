"""Overlay suite specs (every error path) and one in-process suite + sheet on the bundled data."""

from __future__ import annotations

import numpy as np
import pytest

from poc.exceptions import ConfigError
from poc.overlay_suite import (
    load_overlay_spec,
    overlaid_stream,
    overlay_spec_from_dict,
    overlay_spec_with,
    run_overlay_suite,
)

BASE = {
    "name": "t",
    "snapshot": "sp500-v1",
    "grid": {"model": ["ema"], "overlay": ["none", "voltarget:0.10:63", "trend:200"]},
    "oos_start": "2012-01-01",
    "walk_forward": {"axes": ["overlay"], "train_years": 3, "test_years": 1},
}


def test_the_shipped_spec_reads():
    spec = load_overlay_spec("experiments/overlays.yaml")
    assert spec.grid["overlay"][0] == "none"
    assert spec.headline_cell()["overlay"] == "voltarget:0.10:63"
    assert spec.walk_forward.train_days == 756 and spec.walk_forward.test_days == 252
    assert len(spec.cells()) == len(spec.grid["model"]) * len(spec.grid["overlay"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"colour": 1}, "unknown key\\(s\\) \\['colour'\\]"),
        ({"grid": {"overlay": ["none", "volcap:1"]}}, "unknown overlay 'volcap'"),
        ({"grid": {"overlay": ["none", "none"]}}, "duplicate overlay"),
        ({"grid": {"overlay": []}}, "needs at least one overlay"),
        ({"grid": {"modle": ["ema"]}}, "unknown axis 'modle'"),
        ({"headline": {"overlay": "regime"}}, "headline.overlay: 'regime' is not in grid"),
        ({"walk_forward": {"axes": ["lag"]}}, "walk_forward.axes: 'lag' is not a grid axis"),
        ({"walk_forward": {"train_years": 0.01}}, "too short"),
        ({"walk_forward": {"window": 3}}, "unknown key\\(s\\) \\['window'\\]"),
        ({"overlay_cost_bps": -1}, "overlay_cost_bps: must be >= 0"),
        ({"strategy": "book"}, "strategy: must be one of \\['allocation', 'signal'\\]"),
        ({"signal": "builtin:high_52w"}, "signal: only with strategy: signal"),
        ({"strategy": "signal", "grid": {"overlay": ["none"]}}, "signal: required"),
    ],
)
def test_bad_specs_name_the_key(change, match):
    with pytest.raises(ConfigError, match=match):
        overlay_spec_from_dict({**BASE, **change})


def test_overrides_replace_overlays_and_split():
    spec = overlay_spec_from_dict({**BASE, "headline": {"overlay": "trend:200"}})
    changed = overlay_spec_with(spec, {"overlay": "none,regime", "oos_start": "0.25"})
    assert changed.grid["overlay"] == ["none", "regime"]
    assert changed.oos_start == 0.25
    assert changed.headline_cell()["overlay"] == "none"  # trend:200 left the grid
    assert overlay_spec_with(spec, {"snapshot": ""}) == spec
    with pytest.raises(ConfigError, match="unknown override 'lag'"):
        overlay_spec_with(spec, {"lag": "1"})


def test_overlay_cost_is_charged_on_exposure_changes():
    import pandas as pd

    r = pd.Series([0.01, -0.02, 0.03, 0.0] * 30, index=pd.bdate_range("2020-01-01", periods=120))
    free, _, turnover = overlaid_stream("ddcontrol:0.02:0.0:0.01", r, r, 0.0)
    paid, _, _ = overlaid_stream("ddcontrol:0.02:0.0:0.01", r, r, 10.0)
    assert turnover.sum() > 0
    np.testing.assert_allclose(free - paid, turnover * 10.0 / 1e4)


def test_suite_and_sheet_on_the_bundled_data(bundled_snapshot):
    from poc.overlay_sheet import overlay_context
    from poc.tearsheet import render

    spec = overlay_spec_from_dict(BASE)
    result = run_overlay_suite(spec, bundled_snapshot)
    assert [c.params["overlay"] for c in result.cells] == ["none", "voltarget:0.10:63", "trend:200"]
    assert all(c.ok for c in result.cells)
    raw = result.cell("overlay=none")
    assert raw.metrics["avg_exposure"] == 1.0 and raw.metrics["timing_ann"] == 0.0
    # The raw variant is the strategy itself: same Sharpe as the allocation cell.
    assert raw.metrics["sharpe"] == pytest.approx(raw.metrics["raw_sharpe"])
    vt = result.cell("overlay=voltarget:0.10:63")
    assert vt.metrics["ann_vol"] < raw.metrics["ann_vol"]
    assert {"is_sharpe", "oos_sharpe", "is_days", "oos_days"} <= set(vt.metrics)
    assert result.oos_start == "2012-01-03"
    (wf,) = result.walk_forwards
    assert wf.result.windows["cell"].isin([c.name for c in result.cells]).all()
    assert np.isfinite(wf.result.oos_sharpe)
    html = render("overlays.html.j2", overlay_context(result, {"run_id": "x", "command": "c"}))
    for text in (
        "Crisis periods",
        "2008 GFC",
        "2020 COVID crash",
        "In sample against out of sample",
        "Overlay attribution",
        "Parameter stability",
        "out-of-sample Sharpe from 2012-01-03",
    ):
        assert text in html, text


def test_month_end_history_keeps_the_last_day_of_each_month():
    import pandas as pd

    from poc.overlay_runner import month_end

    s = pd.Series(range(70), index=pd.bdate_range("2021-01-01", periods=70), dtype=float)
    out = month_end(s)
    assert list(out.index.strftime("%Y-%m-%d")) == [
        "2021-01-29",
        "2021-02-26",
        "2021-03-31",
        "2021-04-08",
    ]
    assert out.iloc[0] == s["2021-01-29"]


def test_overlays_on_a_signal_strategy(bundled_snapshot):
    spec = overlay_spec_from_dict(
        {
            "name": "sig",
            "strategy": "signal",
            "signal": "builtin:high_52w",
            "snapshot": "sp500-v1",
            "grid": {
                "lag": [0],
                "residualize": ["off"],
                "fractile": [[20, 80]],
                "mincos": [3],
                "overlay": ["none", "trend:200"],
            },
            "oos_start": 0.3,
        }
    )
    assert spec.kind == "signal" and overlay_spec_with(spec, {}) == spec
    result = run_overlay_suite(spec, bundled_snapshot)
    raw, trend = result.cells
    assert raw.ok and trend.ok and result.walk_forwards == []
    assert raw.metrics["sharpe"] == pytest.approx(raw.metrics["raw_sharpe"])
    assert trend.metrics["avg_exposure"] < 1.0
    days = raw.metrics["is_days"] + raw.metrics["oos_days"]
    assert raw.metrics["oos_days"] == round(days * 0.3)
