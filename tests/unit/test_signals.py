"""Built-in signals: known values, contract shape, no lookahead, caching, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.catalog import create_snapshot
from poc.contract import check_signal
from poc.exceptions import ConfigError, MissingDataError
from poc.panel import Panel, load_panel
from poc.signals import (
    BASELINES,
    baseline_signals,
    builtin_names,
    high_52w,
    load_builtin,
    momentum_12_1,
    prices,
    reversal_5d,
)
from poc.sources import synthetic_panel


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    data = synthetic_panel(30, 300, seed=8)
    return create_snapshot(data, tmp_path_factory.mktemp("signals"), "syn-signals")


@pytest.fixture
def close():
    rng = np.random.default_rng(3)
    return 100 * np.cumprod(1 + rng.normal(0, 0.01, (300, 4)), axis=0)


def test_known_values(close):
    d, i = 280, 2
    assert reversal_5d(close)[d, i] == pytest.approx(-(close[d, i] / close[d - 5, i] - 1))
    assert momentum_12_1(close)[d, i] == pytest.approx(close[d - 21, i] / close[d - 252, i] - 1)
    assert high_52w(close)[d, i] == pytest.approx(close[d, i] / close[d - 251 : d + 1, i].max())
    assert np.isnan(high_52w(close)[250]).all()  # needs a full 252-day window
    assert np.isnan(momentum_12_1(close)[251]).all()
    assert (high_52w(close)[251:] <= 1).all()


@pytest.mark.parametrize("function", [reversal_5d, momentum_12_1, high_52w])
def test_values_use_prices_up_to_their_date_only(function, close):
    d = 270
    changed = close.copy()
    changed[d + 1 :] *= 1.7
    np.testing.assert_array_equal(function(close)[: d + 1], function(changed)[: d + 1])


def test_total_return_index_without_closes():
    ret = np.array([[np.nan, 0.0], [0.1, 0.02], [np.nan, 0.01], [-0.1, 0.0]])
    panel = Panel(pd.bdate_range("2021-01-04", periods=4).values, np.arange(2), ret)
    index = prices(panel)
    assert np.isnan(index[0, 0]) and np.isnan(index[2, 0])
    assert index[3, 0] / index[1, 0] == pytest.approx(0.9)


@pytest.mark.parametrize("name", ["reversal_5d", "momentum_12_1", "value", "high_52w", "noise"])
def test_builtins_meet_the_contract(snapshot, name):
    frame = load_builtin(snapshot, name)
    clean = check_signal(frame, snapshot.calendar(), snapshot.security_ids())
    assert len(clean) == len(frame) > 0
    assert (frame["date_avail"] == frame["date_sig"]).all()
    assert np.isfinite(frame["signal"]).all()


def test_builtin_frame_matches_dense_values(snapshot):
    panel = load_panel(snapshot)
    frame = load_builtin(snapshot, "reversal_5d")
    row = frame.iloc[500]
    d = np.searchsorted(panel.dates, np.datetime64(row["date_sig"], "ns"))
    i = np.searchsorted(panel.security_ids, row["security_id"])
    assert row["signal"] == pytest.approx(-(panel.close[d, i] / panel.close[d - 5, i] - 1))
    value = load_builtin(snapshot, "value")
    assert len(value) == np.isfinite(panel.styles["value"]).sum()


def test_computed_builtins_are_cached_under_the_snapshot_cache(snapshot):
    first = load_builtin(snapshot, "momentum_12_1")
    folder = snapshot.cache_dir / "signals"
    assert folder.is_dir() and any(folder.rglob("*.pkl"))
    pd.testing.assert_frame_equal(first, load_builtin(snapshot, "momentum_12_1"))


def test_companion_and_noise(snapshot):
    planted = load_builtin(snapshot, "planted")
    pd.testing.assert_frame_equal(planted, snapshot.read("signals/planted"))
    a, b, c = (load_builtin(snapshot, n) for n in ("noise", "noise:0", "noise:7"))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["signal"], c["signal"])
    assert {"planted", "noise", *BASELINES, "high_52w"} <= set(builtin_names(snapshot))


def test_unknown_names_and_bad_seeds(snapshot):
    with pytest.raises(ConfigError, match=r"unknown builtin signal 'carry'.*reversal_5d.*planted"):
        load_builtin(snapshot, "carry")
    with pytest.raises(ConfigError, match="seed"):
        load_builtin(snapshot, "noise:abc")


def test_value_is_skipped_on_the_bundled_snapshot(bundled_snapshot):
    with pytest.raises(MissingDataError, match="no 'value' exposure"):
        load_builtin(bundled_snapshot, "value")
    signals, notes = baseline_signals(bundled_snapshot)
    assert list(signals) == ["reversal_5d", "momentum_12_1"]
    assert len(notes) == 1 and "value" in notes[0]


def test_all_baselines_on_synthetic(snapshot):
    signals, notes = baseline_signals(snapshot)
    assert list(signals) == list(BASELINES) and notes == []


def test_snapshot_without_closes(tmp_path):
    data = synthetic_panel(20, 300, seed=9)
    stripped = type(data)(
        securities=data.securities,
        returns=data.returns.drop(columns=["close_adj"]),
        risk=data.risk,
        calendar=data.calendar,
        benchmark=None,
        source="synthetic",
    )
    snap = create_snapshot(stripped, tmp_path, "no-close")
    with_close = create_snapshot(data, tmp_path, "with-close")
    a = load_builtin(snap, "reversal_5d").set_index(["security_id", "date_sig"])["signal"]
    b = load_builtin(with_close, "reversal_5d").set_index(["security_id", "date_sig"])["signal"]
    common = a.index.intersection(b.index)
    assert len(common) > 0.9 * len(b)
    np.testing.assert_allclose(a[common], b[common], rtol=1e-9)


def test_too_short_history_raises_and_baseline_is_skipped(tmp_path):
    snap = create_snapshot(synthetic_panel(20, 200, seed=1), tmp_path, "short")
    with pytest.raises(MissingDataError, match=r"momentum_12_1.*200 trading days"):
        load_builtin(snap, "momentum_12_1")
    signals, notes = baseline_signals(snap)
    assert list(signals) == ["reversal_5d", "value"]
    assert "momentum_12_1" in notes[0]
