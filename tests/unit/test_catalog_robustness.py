"""Snapshot store robustness: damaged folders, stale temporary folders, strict ids, read-only
stores whose derived caches go to the user's cache folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from poc.catalog import (
    check_snapshot_id,
    create_snapshot,
    open_snapshot,
    remove_stale_tmp_folders,
    scan_store,
    stale_tmp_folders,
    tmp_folder_name,
    user_cache_dir,
)
from poc.exceptions import SnapshotDamagedError, SnapshotError
from poc.panel import load_panel
from poc.sources import synthetic_panel


@pytest.fixture
def store(tmp_path):
    store = tmp_path / "store"
    create_snapshot(synthetic_panel(12, 40, seed=3), store, "good")
    return store


@pytest.mark.parametrize("bad", ["sp500-v1\n", "a b", "../x", ".hidden", "", "x" * 101])
def test_ids_are_matched_whole(bad):
    with pytest.raises(SnapshotError, match="is not valid"):
        check_snapshot_id(bad)


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (None, "has no manifest.json"),
        ("{}", r"lacks the key\(s\) \['id'"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
    ],
)
def test_a_damaged_folder_is_named_and_does_not_hide_the_others(store, manifest, problem):
    bad = store / "bad"
    bad.mkdir()
    if manifest is not None:
        (bad / "manifest.json").write_text(manifest)
    with pytest.raises(SnapshotDamagedError, match=f"'bad' is damaged: .*{problem}"):
        open_snapshot(store, "bad")
    entries = {e.snapshot_id: e for e in scan_store(store)}
    assert entries["good"].manifest["id"] == "good" and entries["good"].problem is None
    assert entries["bad"].manifest is None and "damaged" in entries["bad"].problem


def test_a_store_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "store"
    path.write_text("x")
    with pytest.raises(SnapshotError, match="is a file, not a folder"):
        scan_store(path)
    with pytest.raises(SnapshotError, match="is a file, not a folder"):
        create_snapshot(synthetic_panel(12, 40, seed=3), path, "s")


def test_gc_removes_folders_of_dead_creators_and_keeps_live_ones(store):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)  # that process has exited
    stale = store / f".tmp-x-p{dead_pid}-0123abcd"
    live = store / tmp_folder_name("y")  # this process: alive
    legacy_old = store / ".tmp-z-89abcdef"
    for path in (stale, live, legacy_old):
        path.mkdir()
    old = os.path.getmtime(legacy_old) - 7200
    os.utime(legacy_old, (old, old))
    assert f"-p{os.getpid()}-" in live.name
    assert set(stale_tmp_folders(store)) == {stale, legacy_old}
    assert set(remove_stale_tmp_folders(store, dry_run=True)) == {stale, legacy_old}
    assert stale.exists()
    remove_stale_tmp_folders(store)
    assert not stale.exists() and not legacy_old.exists() and live.exists()
    assert scan_store(store)[0].snapshot_id == "good"


def test_unwritable_cache_folder_falls_back_to_the_user_cache(store, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # A real fault, even for root: `.cache` is a file, so no cache folder can be made there.
    (store / ".cache").write_text("not a folder")
    snapshot = open_snapshot(store, "good")
    assert snapshot.cache_dir.parent == user_cache_dir() == tmp_path / "xdg" / "poc"
    panel = load_panel(snapshot)
    assert (snapshot.cache_dir / "panel" / "meta.json").exists() or any(
        snapshot.cache_dir.iterdir()
    )
    assert np.isfinite(panel.ret).any()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_store_still_loads_its_panel(store, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for path in [store, *store.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        snapshot = open_snapshot(store, "good")
        assert str(snapshot.cache_dir).startswith(str(tmp_path / "xdg"))
        assert np.isfinite(load_panel(snapshot).ret).any()
    finally:
        for path in [store, *store.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_manifest_json_round_trip_is_untouched(store):
    manifest = json.loads((store / "good" / "manifest.json").read_text())
    assert scan_store(store)[0].manifest == manifest
