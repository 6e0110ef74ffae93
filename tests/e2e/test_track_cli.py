"""``poc snapshot create --end`` and ``poc track`` through the command line, on SQLite and on a
real PostgreSQL server (the ``postgres_url`` fixture skips with the reason when none is
installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from poc import trackdb
from poc.cli import main
from tests.support.readme import readme_commands

ROOT = Path(__file__).resolve().parents[2]


def _track_session(capsys, tmp_path, monkeypatch, db_args: list[str]) -> dict[str, str]:
    """Run the README's walk-through (two snapshots of one source, add, update twice, show,
    list) in ``tmp_path``, with a temporary snapshot store and database."""
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POC_SNAPSHOT_DIR", str(tmp_path / "store"))
    outputs: dict[str, str] = {}
    for argv in readme_commands("Daily NAV tracking"):
        extra = db_args if argv[0] == "track" else []
        assert main([*argv, *extra]) == 0, argv
        key = " ".join(argv[:2])
        outputs[key] = outputs.get(key, "") + capsys.readouterr().out
    assert "backfilled 'planted'" in outputs["track add"]
    assert "last day 2013-06-28" in outputs["track add"]
    first, second = outputs["track update"].strip().splitlines()
    assert "new day(s) from 2013-07-01" in first and "last day 2014-04-21" in first
    assert "updated 'planted' on 'synthetic-60x600-s3': 0 new day(s)" in second
    shown = outputs["track show"]
    for window in ("MTD", "QTD", "YTD", "1Y", "3Y", "SI"):
        assert f"  {window}" in shown
    assert "599 days 2012-01-04..2014-04-21" in shown
    assert "planted" in outputs["track list"] and "599 days to 2014-04-21" in outputs["track list"]
    return outputs


def test_track_on_sqlite(capsys, tmp_path, monkeypatch):
    db = tmp_path / "nav.db"
    _track_session(capsys, tmp_path, monkeypatch, ["--db", str(db)])
    engine = trackdb.connect(f"sqlite:///{db}")
    nav = trackdb.read_nav(engine, "planted")
    assert nav["date"].is_unique and nav["date"].is_monotonic_increasing
    assert nav["nav"].iloc[-1] == pytest.approx(100 * (1 + nav["ret"]).prod(), rel=1e-12)


def test_track_on_postgres(capsys, tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("POC_DB_URL", postgres_url)
    out = _track_session(capsys, tmp_path, monkeypatch, [])
    assert "postgresql+psycopg://" in out["track list"]
    engine = trackdb.connect(postgres_url)
    assert engine.dialect.name == "postgresql"
    nav = trackdb.read_nav(engine, "planted")
    assert len(nav) == 599
    # The same data on SQLite gives the same NAV: the backend does not change results.
    lite = trackdb.connect(f"sqlite:///{tmp_path / 'lite.db'}")
    from poc.catalog import open_snapshot
    from poc.track import add_variant, variant_from_file

    snapshot = open_snapshot(tmp_path / "store", "synthetic-60x600-s3")
    spec = tmp_path / "experiments" / "track_planted.yaml"
    add_variant(lite, "planted", variant_from_file(str(spec)), snapshot)
    other = trackdb.read_nav(lite, "planted")
    pd.testing.assert_series_equal(nav["date"], other["date"])
    pd.testing.assert_series_equal(nav["nav"], other["nav"], rtol=1e-12)
    assert main(["track", "remove", "planted"]) == 0


def test_track_errors_are_clear(capsys, tmp_path):
    db = ["--db", str(tmp_path / "nav.db")]
    assert main(["track", "show", "nobody", *db]) == 1
    assert "no tracked portfolio named 'nobody'" in capsys.readouterr().err
    assert main(["track", "add", "x", "--experiment", str(tmp_path / "no.yaml"), *db]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(
            [
                "snapshot",
                "create",
                "--source",
                "synthetic",
                "--securities",
                "20",
                "--days",
                "40",
                "--end",
                "1999-01-01",
                "--store",
                str(tmp_path / "s"),
            ]
        )
        == 1
    )
    assert "leaves 0 trading date(s)" in capsys.readouterr().err
