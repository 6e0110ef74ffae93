"""Snapshots: manifest, digests, immutability, atomic creation, verification."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from poc.catalog import (
    DEFAULT_SNAPSHOT_ID,
    check_snapshot_id,
    combined_digest,
    create_snapshot,
    list_snapshots,
    open_snapshot,
    verify_snapshot,
)
from poc.exceptions import (
    SnapshotError,
    SnapshotExistsError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
)
from poc.sources import synthetic_panel


@pytest.fixture
def small_data():
    return synthetic_panel(20, 40, seed=3)


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_manifest_records_hash_per_file_and_one_digest(tmp_path, small_data):
    snap = create_snapshot(small_data, tmp_path, "s1")
    manifest = json.loads((tmp_path / "s1" / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "securities.parquet",
        "returns.parquet",
        "risk.parquet",
        "calendar.parquet",
        "benchmark.parquet",
        "signals/planted.parquet",
    }
    hashes = {k: v["sha256"] for k, v in manifest["files"].items()}
    assert manifest["digest"] == combined_digest(hashes) == snap.digest
    assert manifest["counts"]["securities"] == 20
    assert manifest["counts"]["dates"] == 40
    assert manifest["absent"] == ["volume"]
    assert manifest["schema"]["returns"]["ret"] == "double"
    assert verify_snapshot(tmp_path, "s1") == []


def test_same_seed_gives_same_digest(tmp_path, small_data):
    a = create_snapshot(small_data, tmp_path, "a")
    b = create_snapshot(synthetic_panel(20, 40, seed=3), tmp_path, "b")
    c = create_snapshot(synthetic_panel(20, 40, seed=4), tmp_path, "c")
    assert a.digest == b.digest
    assert a.digest != c.digest


def test_ids_are_immutable(tmp_path, small_data):
    create_snapshot(small_data, tmp_path, "s1")
    with pytest.raises(SnapshotExistsError, match=r"already exists.*s1-v2"):
        create_snapshot(small_data, tmp_path, "s1")


@pytest.mark.parametrize("bad", ["", "../x", "a b", "-lead", "x/y"])
def test_bad_ids_are_refused(bad):
    with pytest.raises(SnapshotError, match="not valid"):
        check_snapshot_id(bad)


def test_failed_create_leaves_nothing_behind(tmp_path, small_data):
    broken = small_data.__class__(
        **{
            **small_data.__dict__,
            # A column pyarrow cannot write makes creation fail mid-way.
            "risk": small_data.risk.assign(bad=[object()] * len(small_data.risk)),
        }
    )
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        create_snapshot(broken, tmp_path, "s1")
    assert list(tmp_path.iterdir()) == []
    assert list_snapshots(tmp_path) == []


@pytest.mark.parametrize("name", ["returns.parquet", "signals/planted.parquet"])
def test_flipped_byte_is_named(tmp_path, small_data, name):
    create_snapshot(small_data, tmp_path, "s1")
    _flip_byte(tmp_path / "s1" / name)
    problems = verify_snapshot(tmp_path, "s1")
    assert len(problems) == 1 and problems[0].startswith(f"{name}: sha256")
    with pytest.raises(SnapshotIntegrityError, match=name):
        open_snapshot(tmp_path, "s1")


def test_missing_and_extra_files_are_named(tmp_path, small_data):
    create_snapshot(small_data, tmp_path, "s1")
    (tmp_path / "s1" / "risk.parquet").unlink()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "s1" / "extra.parquet")
    problems = verify_snapshot(tmp_path, "s1")
    assert "risk.parquet: missing" in problems
    assert "extra.parquet: not listed in the manifest" in problems


def test_open_unknown_snapshot_lists_known(tmp_path, small_data):
    create_snapshot(small_data, tmp_path, "s1")
    with pytest.raises(SnapshotNotFoundError, match=r"no snapshot 'nope'.*\['s1'\]"):
        open_snapshot(tmp_path, "nope")


def test_cache_dir_is_outside_snapshot_and_keyed_by_digest(tmp_path, small_data):
    snap = create_snapshot(small_data, tmp_path, "s1")
    assert snap.path not in snap.cache_dir.parents
    assert snap.digest[:16] in snap.cache_dir.name


def test_default_snapshot_is_real_and_large(bundled_store, bundled_snapshot):
    assert list_snapshots(bundled_store) == [DEFAULT_SNAPSHOT_ID]
    m = bundled_snapshot.manifest
    assert m["counts"]["securities"] == 20
    assert m["counts"]["dates"] > 8000
    assert m["date_range"][0].startswith("1990") and m["date_range"][1].startswith("2022")
    assert {"mcap", "value", "openret"} <= set(bundled_snapshot.absent)
    assert verify_snapshot(bundled_store, DEFAULT_SNAPSHOT_ID) == []


def test_snapshot_reads_tables(synthetic_snapshot):
    ret = synthetic_snapshot.read("returns", ["security_id", "date", "ret"])
    assert list(ret.columns) == ["security_id", "date", "ret"]
    assert synthetic_snapshot.signal_names == ["planted"]
    assert synthetic_snapshot.has_column("returns", "openret")
    with pytest.raises(SnapshotError, match="no table 'nope'"):
        synthetic_snapshot.read("nope")
