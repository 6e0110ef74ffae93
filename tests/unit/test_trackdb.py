"""The NAV database on SQLite: registration, idempotent appends, errors."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from poc import trackdb


@pytest.fixture
def engine(tmp_path):
    return trackdb.connect(f"sqlite:///{tmp_path / 'nav.db'}")


def _days(dates, rets, start=100.0):
    import numpy as np

    rets = np.asarray(rets, dtype=float)
    return pd.DataFrame(
        {"date": pd.to_datetime(dates), "ret": rets, "nav": start * np.cumprod(1 + rets)}
    )


def test_resolve_url_order():
    assert trackdb.resolve_url("x.db", {"POC_DB_URL": "sqlite:///y.db"}) == "sqlite:///x.db"
    assert trackdb.resolve_url(None, {"POC_DB_URL": "postgresql+psycopg://u@h/d"}).startswith(
        "postgresql+psycopg://"
    )
    assert trackdb.resolve_url(None, {}) == "sqlite:///poc-track.db"


def test_tables_and_unique_constraint(engine):
    names = set(sa.inspect(engine).get_table_names())
    assert {"portfolios", "daily_nav", "overlays"} <= names
    trackdb.register_portfolio(engine, "a", "v1", "signal", {"k": 1}, "none", "s1")
    info = trackdb.get_portfolio(engine, "a")
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        for _ in range(2):
            conn.execute(
                trackdb.DailyNav.__table__.insert(),
                {
                    "portfolio_id": info.id,
                    "date": pd.Timestamp("2020-01-02").date(),
                    "return": 0.0,
                    "nav": 100.0,
                },
            )


def test_register_is_idempotent_and_refuses_a_changed_definition(engine):
    info, created = trackdb.register_portfolio(engine, "a", "v1", "signal", {"k": 1}, "none", "s1")
    assert created and info.n_days == 0 and info.last_nav is None
    again, created = trackdb.register_portfolio(engine, "a", "v1", "signal", {"k": 1}, "none", "s1")
    assert not created and again.id == info.id
    with pytest.raises(trackdb.TrackError, match="different definition"):
        trackdb.register_portfolio(engine, "a", "v2", "signal", {"k": 2}, "none", "s1")
    with pytest.raises(trackdb.TrackError, match="kind must be"):
        trackdb.register_portfolio(engine, "b", "v1", "basket", {}, "none", "s1")


def test_append_twice_changes_nothing(engine):
    trackdb.register_portfolio(engine, "a", "v1", "signal", {}, "none", "s1")
    days = _days(["2020-01-02", "2020-01-03", "2020-01-06"], [0.01, -0.02, 0.005])
    assert trackdb.append_days(engine, "a", days, "s1") == 3
    before = trackdb.read_nav(engine, "a")
    assert trackdb.append_days(engine, "a", days, "s1") == 0
    pd.testing.assert_frame_equal(trackdb.read_nav(engine, "a"), before)
    # A changed return on a stored day is not written over the stored one.
    changed = days.assign(ret=[0.5, 0.5, 0.5])
    assert trackdb.append_days(engine, "a", changed, "s2") == 0
    pd.testing.assert_frame_equal(trackdb.read_nav(engine, "a"), before)
    info = trackdb.get_portfolio(engine, "a")
    assert info.n_days == 3 and str(info.last_date) == "2020-01-06"
    assert info.last_nav == pytest.approx(100 * 1.01 * 0.98 * 1.005)


def test_unknown_names_and_bad_urls(engine, tmp_path):
    with pytest.raises(trackdb.TrackError, match=r"no tracked portfolio named 'x'.*poc track add"):
        trackdb.read_nav(engine, "x")
    with pytest.raises(trackdb.TrackError, match="cannot use database URL"):
        trackdb.connect("nosuchdriver://u@h/d")
    with pytest.raises(trackdb.TrackError, match="cannot open the NAV database"):
        trackdb.connect(f"sqlite:///{tmp_path / 'missing-folder' / 'x.db'}")


def test_remove_deletes_rows(engine):
    trackdb.register_portfolio(engine, "a", "v1", "signal", {}, "none", "s1")
    trackdb.append_days(engine, "a", _days(["2020-01-02"], [0.01]), "s1")
    assert trackdb.remove_portfolio(engine, "a") == 1
    assert trackdb.list_portfolios(engine) == []


def test_a_concurrent_writer_does_not_break_an_append(engine, monkeypatch):
    trackdb.register_portfolio(engine, "a", "v1", "signal", {}, "none", "s1")
    days = _days(["2020-01-02", "2020-01-03"], [0.01, 0.02])
    # Another writer stores 2020-01-03 after our read of the stored dates, before our insert.
    real = trackdb._insert_ignoring_duplicates

    def racing(s):
        info = trackdb.get_portfolio(engine, "a")
        with engine.begin() as conn:
            conn.execute(
                trackdb.DailyNav.__table__.insert(),
                {
                    "portfolio_id": info.id,
                    "date": pd.Timestamp("2020-01-03").date(),
                    "return": 0.02,
                    "nav": 103.02,
                },
            )
        return real(s)

    monkeypatch.setattr(trackdb, "_insert_ignoring_duplicates", racing)
    trackdb.append_days(engine, "a", days, "s1")
    nav = trackdb.read_nav(engine, "a")
    assert list(nav["date"].dt.strftime("%Y-%m-%d")) == ["2020-01-02", "2020-01-03"]
