"""The daily NAV database behind ``poc track``: SQLAlchemy tables and idempotent writes.

Three tables (see ``docs/tracking-db.md``):

``portfolios``
    One row per tracked variant: its name, a ``variant_id`` (digest of kind, spec and
    overlay, so the same definition is recognised under any name), ``kind`` (``signal``
    or ``allocation``), the spec as JSON, the overlay text, the snapshot the NAV was
    last computed on, and when it was created and updated.
``daily_nav``
    One row per (portfolio, date): the day's return and the NAV after it; the pair is
    unique, so writing a day twice is refused by the database itself.
``overlays``
    Every overlay text used by a portfolio (``none``, ``voltarget:0.10:63``...).

SQLite (``./poc-track.db``) by default; any SQLAlchemy URL (PostgreSQL with the
``psycopg`` driver for a team) through ``$POC_DB_URL`` or ``--db``. This is the only
module that imports SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from poc.exceptions import PocError

DEFAULT_DB_PATH = "poc-track.db"


class TrackError(PocError, ValueError):
    """A tracked portfolio or the NAV database cannot serve a request."""


class Base(DeclarativeBase):
    pass


class Portfolio(Base):
    """A tracked variant (signal or allocation spec, plus an overlay)."""

    __tablename__ = "portfolios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    variant_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    spec_json: Mapped[str] = mapped_column(Text, nullable=False)
    overlay: Mapped[str] = mapped_column(String(100), nullable=False, default="none")
    snapshot_id: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class DailyNav(Base):
    """One day of one portfolio: the return earned that day and the NAV after it."""

    __tablename__ = "daily_nav"
    __table_args__ = (UniqueConstraint("portfolio_id", "date", name="uq_daily_nav_portfolio_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False, index=True
    )
    date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ret: Mapped[float] = mapped_column("return", Float, nullable=False)
    nav: Mapped[float] = mapped_column(Float, nullable=False)


class Overlay(Base):
    """An overlay text used by at least one portfolio."""

    __tablename__ = "overlays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


@dataclass(frozen=True)
class PortfolioInfo:
    """A portfolio row as plain values (safe to use after the session closes)."""

    id: int
    name: str
    variant_id: str
    kind: str
    spec: dict[str, Any]
    overlay: str
    snapshot_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    n_days: int
    first_date: dt.date | None
    last_date: dt.date | None
    last_nav: float | None


def resolve_url(explicit: str | None, environ: dict[str, str] | None = None) -> str:
    """The database URL: ``explicit`` (``--db``), else ``$POC_DB_URL``, else ``./poc-track.db``.

    A bare file path is accepted and turned into a ``sqlite:///`` URL.
    """
    import os

    env = os.environ if environ is None else environ
    url = explicit or env.get("POC_DB_URL") or DEFAULT_DB_PATH
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def connect(url: str) -> Engine:
    """An engine on ``url`` with every table created (idempotent)."""
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError) as exc:
        raise TrackError(
            f"cannot use database URL {url!r} ({exc}); use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST:PORT/DB (pip install 'psycopg[binary]')"
        ) from exc
    try:
        Base.metadata.create_all(engine)
    except OperationalError as exc:
        raise TrackError(
            f"cannot open the NAV database {url!r}: {exc.orig}; check the URL, that the "
            "server runs and that the folder exists"
        ) from exc
    return engine


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine) as s, s.begin():
        yield s


def _info(s: Session, row: Portfolio) -> PortfolioInfo:
    stats = s.execute(
        select(func.count(DailyNav.id), func.min(DailyNav.date), func.max(DailyNav.date)).where(
            DailyNav.portfolio_id == row.id
        )
    ).one()
    last_nav = None
    if stats[2] is not None:
        last_nav = s.execute(
            select(DailyNav.nav).where(DailyNav.portfolio_id == row.id, DailyNav.date == stats[2])
        ).scalar_one()
    return PortfolioInfo(
        id=row.id,
        name=row.name,
        variant_id=row.variant_id,
        kind=row.kind,
        spec=json.loads(row.spec_json),
        overlay=row.overlay,
        snapshot_id=row.snapshot_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        n_days=int(stats[0]),
        first_date=stats[1],
        last_date=stats[2],
        last_nav=last_nav,
    )


def _row(s: Session, name: str) -> Portfolio:
    row = s.execute(select(Portfolio).where(Portfolio.name == name)).scalar_one_or_none()
    if row is None:
        known = s.execute(select(Portfolio.name).order_by(Portfolio.name)).scalars().all()
        raise TrackError(
            f"no tracked portfolio named {name!r}; known: {list(known) or 'none'}. "
            "Register one with `poc track add NAME --experiment SPEC`"
        )
    return row


def get_portfolio(engine: Engine, name: str) -> PortfolioInfo:
    """The portfolio ``name``; TrackError listing the known names when absent."""
    with session(engine) as s:
        return _info(s, _row(s, name))


def list_portfolios(engine: Engine) -> list[PortfolioInfo]:
    """Every tracked portfolio, by name."""
    with session(engine) as s:
        rows = s.execute(select(Portfolio).order_by(Portfolio.name)).scalars().all()
        return [_info(s, r) for r in rows]


def register_portfolio(
    engine: Engine,
    name: str,
    variant_id: str,
    kind: str,
    spec: dict[str, Any],
    overlay: str,
    snapshot_id: str,
) -> tuple[PortfolioInfo, bool]:
    """Insert the portfolio, or return the existing one when its definition is identical.

    Returns ``(info, created)``. Re-registering a name with a different definition is
    refused: a tracked NAV must always mean one thing.
    """
    if kind not in ("signal", "allocation"):
        raise TrackError(f"kind must be 'signal' or 'allocation', got {kind!r}")
    with session(engine) as s:
        existing = s.execute(select(Portfolio).where(Portfolio.name == name)).scalar_one_or_none()
        if existing is not None:
            if existing.variant_id != variant_id:
                raise TrackError(
                    f"portfolio {name!r} is already tracked with a different definition "
                    f"(variant {existing.variant_id[:12]} vs {variant_id[:12]}); pick a new name "
                    "or remove it with `poc track remove NAME`"
                )
            return _info(s, existing), False
        if s.execute(select(Overlay).where(Overlay.text == overlay)).scalar_one_or_none() is None:
            s.add(Overlay(text=overlay, created_at=_now()))
        now = _now()
        row = Portfolio(
            name=name,
            variant_id=variant_id,
            kind=kind,
            spec_json=json.dumps(spec, sort_keys=True, default=str),
            overlay=overlay,
            snapshot_id=snapshot_id,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        return _info(s, row), True


def remove_portfolio(engine: Engine, name: str) -> int:
    """Delete a portfolio and its NAV rows; returns the number of NAV rows deleted."""
    with session(engine) as s:
        row = _row(s, name)
        n = s.execute(delete(DailyNav).where(DailyNav.portfolio_id == row.id)).rowcount
        s.delete(row)
        return int(n or 0)


def read_nav(engine: Engine, name: str) -> pd.DataFrame:
    """The stored days of ``name``: columns ``date`` (Timestamp), ``ret``, ``nav``, by date."""
    with session(engine) as s:
        row = _row(s, name)
        rows = s.execute(
            select(DailyNav.date, DailyNav.ret, DailyNav.nav)
            .where(DailyNav.portfolio_id == row.id)
            .order_by(DailyNav.date)
        ).all()
    frame = pd.DataFrame(rows, columns=["date", "ret", "nav"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def append_days(engine: Engine, name: str, days: pd.DataFrame, snapshot_id: str) -> int:
    """Insert the rows of ``days`` (``date, ret, nav``) whose date is not stored yet.

    Days already stored are skipped, never overwritten, so calling this twice with
    the same rows changes nothing. Returns the number of rows inserted.
    """
    if not {"date", "ret", "nav"} <= set(days.columns):
        raise TrackError(f"days need columns date, ret, nav; got {list(days.columns)}")
    with session(engine) as s:
        row = _row(s, name)
        stored = set(
            s.execute(select(DailyNav.date).where(DailyNav.portfolio_id == row.id)).scalars()
        )
        dates = pd.to_datetime(days["date"]).dt.date.to_numpy()
        keep = np.array([d not in stored for d in dates], dtype=bool)
        fresh = [
            {"portfolio_id": row.id, "date": d, "ret": float(r), "nav": float(n)}
            for d, r, n in zip(
                dates[keep], days["ret"].to_numpy()[keep], days["nav"].to_numpy()[keep], strict=True
            )
        ]
        if fresh:
            s.execute(_insert_ignoring_duplicates(s), [_column_names(r) for r in fresh])
            row.updated_at = _now()
        row.snapshot_id = snapshot_id
        return len(fresh)


def _insert_ignoring_duplicates(s: Session):
    """INSERT ... ON CONFLICT DO NOTHING where the dialect has it (SQLite, PostgreSQL).

    The dates were filtered above; this guards against a second writer appending the
    same day between that read and this write (its row wins, ours is skipped).
    """
    table = DailyNav.__table__
    name = s.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return table.insert()
    return insert(table).on_conflict_do_nothing(index_elements=["portfolio_id", "date"])


def _column_names(record: dict[str, Any]) -> dict[str, Any]:
    # The ORM attribute `ret` maps to the SQL column `return` (a reserved word in Python).
    out = dict(record)
    out["return"] = out.pop("ret")
    return out
