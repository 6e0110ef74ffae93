"""Overlays: parsing, known exposures, attribution identities, error paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.exceptions import PocError
from poc.overlays import (
    OverlayError,
    apply_overlay,
    attribution_summary,
    overlay_attribution,
    overlay_exposure,
    parse_overlay,
)


def stream(n=400, seed=42, vol=0.01):
    rng = np.random.default_rng(seed)
    return pd.Series(rng.standard_normal(n) * vol, index=pd.bdate_range("2015-01-02", periods=n))


def test_parse_fills_defaults_and_round_trips():
    spec = parse_overlay("voltarget:0.10:63")
    assert spec.name == "voltarget"
    assert dict(spec.params) == {"target": 0.10, "lookback": 63, "max_leverage": 2.0}
    assert parse_overlay(spec.text) == spec
    dd = parse_overlay("ddcontrol:0.10:0.5")
    assert dd.param("reenter") == pytest.approx(0.05)
    assert parse_overlay("trend:200").param("off_exposure") == 0.0
    assert parse_overlay(" NONE ").name == "none"
    assert parse_overlay("regime").params == ()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "overlay must be a text"),
        ("volcap:0.1", "unknown overlay 'volcap'.*voltarget:target:lookback"),
        ("voltarget:0.1", "takes 2 to 3 parameter"),
        ("voltarget:abc:63", "target must be a number, got 'abc'"),
        ("voltarget:0.1:6.5", "lookback must be a whole number"),
        ("voltarget:-0.1:63", "target must be an annual volatility > 0"),
        ("ddcontrol:1.5:0.5", "threshold must be a drawdown in"),
        ("ddcontrol:0.1:0.5:0.2", "reenter .* must not exceed threshold"),
        ("trend:1", "window must be a moving-average window >= 2"),
        ("regime:3", "takes 0 to 0 parameter"),
    ],
)
def test_bad_text_is_a_clear_poc_error(text, match):
    with pytest.raises(OverlayError, match=match) as info:
        parse_overlay(text)
    assert isinstance(info.value, PocError)


def test_benchmark_overlays_need_a_benchmark():
    with pytest.raises(OverlayError, match="reads the benchmark; pass benchmark="):
        apply_overlay("trend:200", stream())
    with pytest.raises(TypeError, match="returns must be a pandas Series"):
        apply_overlay("none", [0.01, 0.02])


def test_none_is_the_raw_stream():
    r = stream()
    pd.testing.assert_series_equal(apply_overlay("none", r), r)


def test_voltarget_known_values():
    # Alternating +-1% has a sample std of 1% * sqrt(n/(n-1)) over an even window.
    n, window = 30, 10
    r = pd.Series(np.tile([0.01, -0.01], n // 2), index=pd.bdate_range("2020-01-01", periods=n))
    e = overlay_exposure(f"voltarget:0.08:{window}", r)
    assert (e.iloc[:window] == 1.0).all()  # warm-up: no full window before day `window`
    vol = 0.01 * np.sqrt(window / (window - 1)) * np.sqrt(252)
    assert e.iloc[window] == pytest.approx(0.08 / vol)
    capped = overlay_exposure(f"voltarget:5.0:{window}:1.5", r)
    assert capped.iloc[window:].max() == 1.5


def test_voltarget_hits_the_target_on_a_changing_vol_stream():
    rng = np.random.default_rng(7)
    vol = np.repeat([0.005, 0.02, 0.01], 500)
    r = pd.Series(rng.standard_normal(1500) * vol, index=pd.bdate_range("2010-01-01", periods=1500))
    out = apply_overlay("voltarget:0.10:63", r)
    realized = out.iloc[63:].std() * np.sqrt(252)
    assert 0.085 < realized < 0.12
    assert r.iloc[63:].std() * np.sqrt(252) > 0.2


def test_ddcontrol_cuts_after_threshold_and_reenters_with_hysteresis():
    moves = [0.0, -0.06, -0.06, 0.0, 0.04, 0.05, 0.02, 0.0]
    r = pd.Series(moves, index=pd.bdate_range("2021-01-01", periods=len(moves)))
    e = overlay_exposure("ddcontrol:0.10:0.25:0.03", r)
    # Drawdown after day 2 is 1 - 0.94^2 = 11.6% > 10%: exposure is cut from day 3 on.
    # After day 4 it is 8.1% (still cut: above the 3% re-entry band); after day 5 3.5%;
    # after day 6 1.6% -> back to 1 from day 7.
    assert e.tolist() == [1.0, 1.0, 1.0, 0.25, 0.25, 0.25, 0.25, 1.0]


def test_trend_filter_on_the_benchmark():
    bench = pd.Series(
        [0.01] * 5 + [-0.05] * 3 + [0.1] * 2, index=pd.bdate_range("2021-01-01", periods=10)
    )
    r = pd.Series(0.001, index=bench.index)
    e = overlay_exposure("trend:3:0.2", r, bench)
    wealth = (1 + bench).cumprod()
    sma = wealth.rolling(3).mean()
    decided = np.where(sma.isna(), 1.0, np.where(wealth >= sma, 1.0, 0.2))
    assert e.tolist() == [1.0, *decided[:-1].tolist()]
    assert 0.2 in e.tolist()


def test_regime_scales_exposure_by_the_benchmark_regime():
    from poc.allocation.regime import classify_regimes
    from poc.overlays import REGIME_EXPOSURE

    bench = stream(600, seed=3, vol=0.012)
    e = overlay_exposure("regime", bench * 0.5, bench)
    labels = classify_regimes(bench)
    expected = [1.0, *labels.map(REGIME_EXPOSURE).tolist()[:-1]]
    assert e.tolist() == expected
    assert set(e.unique()) > {1.0}


def test_nan_returns_stay_nan():
    r = stream(100)
    r.iloc[50] = np.nan
    out = apply_overlay("voltarget:0.1:20", r)
    assert np.isnan(out.iloc[50]) and out.drop(out.index[50]).notna().all()
    # While the 20-day window holds the gap, the exposure decided before it is kept.
    e = overlay_exposure("voltarget:0.1:20", r)
    assert (e.iloc[51:71] == e.iloc[51]).all() and e.iloc[51] == e.iloc[50]
    assert e.iloc[71] != e.iloc[70]


def test_attribution_parts_sum_to_the_difference():
    r = stream(700, seed=5)
    e = overlay_exposure("voltarget:0.10:21", r)
    frame = overlay_attribution(r, e)
    np.testing.assert_allclose(frame["scaling"] + frame["timing"], frame["difference"], atol=1e-15)
    np.testing.assert_allclose(frame["overlay"], apply_overlay("voltarget:0.10:21", r))
    summary = attribution_summary(frame)
    assert summary["scaling_ann"] + summary["timing_ann"] == pytest.approx(
        summary["difference_ann"]
    )


def test_attribution_of_a_constant_exposure_is_all_scaling():
    r = stream(300)
    frame = overlay_attribution(r, pd.Series(0.5, index=r.index))
    np.testing.assert_allclose(frame["timing"], 0.0, atol=1e-18)
    np.testing.assert_allclose(frame["scaling"], -0.5 * r)


def test_attribution_timing_is_positive_when_exposure_anticipates_returns():
    r = pd.Series([0.02, -0.02] * 50, index=pd.bdate_range("2020-01-01", periods=100))
    e = pd.Series([1.0, 0.0] * 50, index=r.index)  # full on up days, out on down days
    summary = attribution_summary(overlay_attribution(r, e))
    assert summary["timing_ann"] > 0
    assert summary["scaling_ann"] == pytest.approx(0.0, abs=1e-12)  # raw mean is 0
