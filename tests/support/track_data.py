"""Two snapshots of one synthetic source, the older cut at a date, for ``poc track`` tests."""

from __future__ import annotations

from pathlib import Path

from poc.catalog import create_snapshot, open_snapshot
from poc.sources import synthetic_panel, truncate_at

OLD_ID = "syn-track-old"
NEW_ID = "syn-track-new"
CUT = "2013-06-28"
SIGNAL_SPEC = (
    Path(__file__).resolve().parents[2] / "experiments" / "track_planted.yaml"
).read_text()


def build_track_store(store: Path):
    """Create both snapshots in ``store`` (60 names x 600 days) and a spec file beside them.

    Returns ``(old_snapshot, new_snapshot, spec_path)``.
    """
    data = synthetic_panel(60, 600, seed=3)
    create_snapshot(truncate_at(data, CUT), store, OLD_ID)
    create_snapshot(data, store, NEW_ID)
    spec = store / "signal.yaml"
    spec.write_text(SIGNAL_SPEC)
    return open_snapshot(store, OLD_ID), open_snapshot(store, NEW_ID), spec
