"""Dense panels: building from tables, the on-disk cache, derived arrays, signal matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.catalog import create_snapshot, open_snapshot, verify_snapshot
from poc.contract import align_signal, check_signal
from poc.derived import cap_terciles, tercile_layout
from poc.exceptions import MissingDataError, SignalContractError
from poc.panel import CACHE_NAME, Panel, load_panel, panel_from_data, require, signal_matrix
from poc.sources import synthetic_panel


@pytest.fixture(scope="module")
def data():
    return synthetic_panel(40, 80, seed=4)


@pytest.fixture
def snapshot(data, tmp_path):
    return create_snapshot(data, tmp_path / "store", "syn")


def test_dense_arrays_match_the_long_tables(data):
    panel = panel_from_data(data)
    assert panel.shape == (80, 40)
    returns = data.returns.sample(50, random_state=1)
    rows = np.searchsorted(panel.dates, returns["date"].to_numpy().astype("datetime64[ns]"))
    cols = np.searchsorted(panel.security_ids, returns["security_id"].to_numpy())
    for name, column in (
        ("ret", "ret"),
        ("openret", "openret"),
        ("mcap", "mcap"),
        ("half_spread", "half_spread"),
        ("close", "close_adj"),
    ):
        np.testing.assert_array_equal(getattr(panel, name)[rows, cols], returns[column].to_numpy())
    # No row in the long table means NaN (no observation), never 0.
    assert np.isnan(panel.ret).sum() == panel.ret.size - len(data.returns)
    assert set(panel.styles) == {"size", "value", "momentum", "volatility", "beta"}
    assert panel.industry_names == tuple(f"IND{k:02d}" for k in range(10))
    risk = data.risk.iloc[123]
    row = np.searchsorted(panel.dates, np.datetime64(risk["date"], "ns"))
    col = np.searchsorted(panel.security_ids, risk["security_id"])
    assert panel.industry_names[panel.industry[row, col]] == risk["industry"]
    assert panel.styles["value"][row, col] == pytest.approx(risk["value"])


def test_cache_is_written_beside_the_snapshot_and_reused(snapshot):
    first = load_panel(snapshot)
    folder = snapshot.cache_dir / CACHE_NAME
    assert (folder / "meta.json").exists() and (folder / "ret.npy").exists()
    assert snapshot.path not in folder.parents  # outside the snapshot folder
    assert verify_snapshot(snapshot.path.parent, "syn") == []  # never part of the digest
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tmp-")]
    second = load_panel(open_snapshot(snapshot.path.parent, "syn"))
    assert isinstance(np.load(folder / "ret.npy", mmap_mode="r"), np.memmap)
    np.testing.assert_array_equal(first.ret, second.ret)
    np.testing.assert_array_equal(first.cap_tercile, second.cap_tercile)
    assert second.digest == snapshot.digest
    assert list(second.styles) == list(first.styles)


def test_broken_cache_is_rebuilt(snapshot):
    load_panel(snapshot)
    folder = snapshot.cache_dir / CACHE_NAME
    (folder / "ret.npy").write_bytes(b"garbage")
    panel = load_panel(snapshot)
    assert np.isfinite(panel.ret).any()


def test_cache_is_keyed_by_digest(data, tmp_path):
    a = create_snapshot(data, tmp_path, "a")
    b = create_snapshot(synthetic_panel(40, 80, seed=5), tmp_path, "b")
    assert a.cache_dir != b.cache_dir
    assert not np.array_equal(load_panel(a).ret, load_panel(b).ret, equal_nan=True)


def test_signal_matrix_places_values_at_usable_positions(data):
    panel = panel_from_data(data)
    clean = check_signal(data.signals["planted"], panel.dates, panel.security_ids)
    aligned = align_signal(clean, panel.dates, lag=2)
    matrix = signal_matrix(aligned, panel)
    row = aligned.frame.iloc[77]
    col = np.searchsorted(panel.security_ids, row["security_id"])
    assert matrix[row["usable_pos"], col] == row["signal"]
    assert np.isfinite(matrix).sum() == len(aligned.frame)


def test_signal_matrix_rejects_unknown_ids_and_other_calendars(data):
    panel = panel_from_data(data)
    clean = check_signal(data.signals["planted"], panel.dates)
    bad = clean.copy()
    bad.loc[0, "security_id"] = 999
    with pytest.raises(SignalContractError, match="999"):
        signal_matrix(align_signal(bad, panel.dates), panel)
    shifted = panel.dates + np.timedelta64(1, "D")
    with pytest.raises(SignalContractError, match="different calendar"):
        signal_matrix(align_signal(clean, shifted), panel)


def test_cap_terciles_known_values_and_ties():
    mcap = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan], [5.0, 5.0, 5.0, 1.0, 2.0, 0.0, 9.0]])
    np.testing.assert_array_equal(cap_terciles(mcap)[0], [0, 0, 1, 1, 2, 2, -1])
    # Row 2: caps 1, 2, 5, 5, 5, 9 (0 is no cap); the tied 5s share the top tercile.
    np.testing.assert_array_equal(cap_terciles(mcap)[1], [2, 2, 2, 0, 0, -1, 2])


def test_tercile_layout_lists_each_terciles_names():
    rng = np.random.default_rng(0)
    tercile = rng.integers(-1, 3, (6, 11)).astype(np.int8)
    layout = tercile_layout(tercile)
    for k in range(3):
        for t in range(6):
            slots = layout.flat[k, t][~layout.pad[k, t]]
            expected = t * 11 + np.flatnonzero(tercile[t] == k)
            np.testing.assert_array_equal(np.sort(slots), expected)


def test_derived_arrays(data):
    panel = panel_from_data(data)
    assert panel.static_industry is not None and (panel.static_industry >= 0).all()
    stack = panel.style_stack
    assert stack.shape == (80, 5, 40)
    assert not panel.styles_finite.any()  # momentum needs 252 days of history
    day = 70
    size = stack[day, list(panel.styles).index("size")][np.isfinite(panel.styles["size"][day])]
    assert size.mean() == pytest.approx(0.0, abs=1e-12)
    assert size.std() == pytest.approx(1.0)
    moving = panel.industry.copy()
    moving[5, 0] = (moving[5, 0] + 1) % 10
    dynamic = Panel(panel.dates, panel.security_ids, panel.ret, industry=moving)
    assert dynamic.static_industry is None


def test_panel_checks_shapes_and_required_columns():
    dates = pd.bdate_range("2021-01-04", periods=3).values
    with pytest.raises(ValueError, match="shape"):
        Panel(dates, np.arange(2), np.zeros((3, 2)), openret=np.zeros((2, 2)))
    panel = Panel(dates, np.arange(2), np.zeros((3, 2)), snapshot_id="bare")
    assert panel.dates.dtype == np.dtype("datetime64[ns]")
    with pytest.raises(MissingDataError, match=r"from_open.*'openret'.*'bare'"):
        require(panel, "openret", "from_open")
