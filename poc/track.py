"""Track a variant's daily NAV: compute its headline cell on a snapshot, store, append.

A *variant* is a spec (a signal suite spec or an allocation spec: its headline cell)
plus an overlay (``none`` or a :mod:`poc.overlays` text). ``add`` computes the cell's
daily net returns on a snapshot, applies the overlay and backfills the NAV;
``update`` recomputes on a newer snapshot and appends only the days after the last
stored one, continuing the NAV from the last stored value. Stored days are never
rewritten: when the newer snapshot restates an old day's return, the difference is
reported (``max_restatement``) and the stored row stays.

The parent process does the database work (:mod:`poc.trackdb`); nothing here
touches MLflow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from poc import trackdb
from poc.catalog import Snapshot
from poc.exceptions import ConfigError, PocError
from poc.experiment import read_spec_file
from poc.trailing import nav_from_returns

START_NAV = 100.0


@dataclass(frozen=True)
class Variant:
    """What a tracked portfolio is: the spec's kind and mapping, and the overlay text."""

    kind: str  # "signal" or "allocation"
    spec: dict[str, Any]
    overlay: str = "none"

    @property
    def variant_id(self) -> str:
        """sha256 of kind, spec and overlay (the same definition gives the same id)."""
        text = json.dumps(
            {"kind": self.kind, "spec": self.spec, "overlay": self.overlay},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class UpdateOutcome:
    """What an add or update did."""

    name: str
    snapshot_id: str
    computed_days: int
    appended: int
    first_new: pd.Timestamp | None
    last_date: pd.Timestamp | None
    last_nav: float | None
    max_restatement: float  # max |recomputed - stored| return over stored days (0 if none)


def variant_from_file(path: str, overlay: str = "none") -> Variant:
    """Read a spec file: a ``signal:`` key makes it a signal spec, else an allocation spec."""
    raw = read_spec_file(path)
    kind = "signal" if raw.get("signal") else "allocation"
    # Validate now so a bad spec fails before anything is stored.
    _typed_spec(kind, raw)
    check_overlay(overlay)
    return Variant(kind, raw, overlay.strip() or "none")


def _typed_spec(kind: str, raw: dict[str, Any]):
    if kind == "signal":
        from poc.experiment import spec_from_dict

        return spec_from_dict(raw)
    from poc.allocation_suite import allocation_spec_from_dict

    return allocation_spec_from_dict(raw)


def check_overlay(text: str) -> None:
    """Refuse an overlay that cannot be applied (before anything is computed)."""
    if text.strip() in ("", "none"):
        return
    overlays = _overlays_module()
    try:
        overlays.parse_overlay(text)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PocError):
            raise
        raise ConfigError(f"overlay {text!r}: {exc}") from exc


def _overlays_module():
    try:
        from poc import overlays
    except ImportError:
        raise ConfigError(
            "overlays need poc.overlays, which this installation does not have; use --overlay none"
        ) from None
    return overlays


def headline_returns(variant: Variant, snapshot: Snapshot) -> pd.Series:
    """Daily net returns of the variant's headline cell on ``snapshot``, overlay applied.

    Returns
    -------
    Series
        Indexed by the date each return is earned, named ``ret``.
    """
    spec = _typed_spec(variant.kind, variant.spec)
    if variant.kind == "signal":
        returns = _signal_returns(spec, snapshot)
    else:
        returns = _allocation_returns(spec, snapshot)
    if variant.overlay != "none":
        benchmark = None
        if snapshot.has_table("benchmark"):
            bench = snapshot.read("benchmark")
            benchmark = pd.Series(bench["ret"].to_numpy(), index=pd.to_datetime(bench["date"]))
        returns = _overlays_module().apply_overlay(variant.overlay, returns, benchmark)
    return returns.dropna().rename("ret")


def _signal_returns(spec, snapshot: Snapshot) -> pd.Series:
    from poc.contract import check_signal
    from poc.panel import load_panel
    from poc.suite import _restrict_dates, dense_signal, load_signal_table, run_cell

    panel = load_panel(snapshot)
    raw = _restrict_dates(load_signal_table(snapshot, spec.signal), spec.start, spec.end)
    signal = dense_signal(panel, check_signal(raw, panel.dates, panel.security_ids))
    cell = run_cell(panel, signal, spec.headline_cell(), "headline", "cell")
    if not cell.ok:
        raise ConfigError(
            f"the spec's headline cell failed on {snapshot.snapshot_id}: {cell.error}"
        )
    return pd.Series(cell.daily["net"].to_numpy(), index=pd.to_datetime(cell.daily["date"]))


def _allocation_returns(spec, snapshot: Snapshot) -> pd.Series:
    from poc.allocation.inputs import allocation_inputs, allocation_sectors
    from poc.allocation_suite import run_allocation_cell

    prices, benchmark = allocation_inputs(snapshot)
    if spec.start:
        prices = prices[prices.index >= pd.Timestamp(spec.start)]
    if spec.end:
        prices = prices[prices.index <= pd.Timestamp(spec.end)]
    cell = run_allocation_cell(
        prices, benchmark, allocation_sectors(snapshot), spec.headline_cell(), "headline"
    )
    if not cell.ok:
        raise ConfigError(
            f"the spec's headline cell failed on {snapshot.snapshot_id}: {cell.error}"
        )
    return pd.Series(cell.daily["net"].to_numpy(), index=pd.to_datetime(cell.daily["date"]))


def new_days(returns: pd.Series, stored: pd.DataFrame, start_nav: float = START_NAV):
    """The days of ``returns`` after the last stored day, with the NAV continued.

    Parameters
    ----------
    returns : Series
        The full recomputed daily returns (indexed by date).
    stored : DataFrame
        The stored rows (``date, ret, nav``), possibly empty.

    Returns
    -------
    (DataFrame, float)
        The rows to append (``date, ret, nav``) and the largest absolute
        difference between recomputed and stored returns on stored days.
    """
    returns = returns.dropna().sort_index()
    if stored.empty:
        fresh = returns
        base = start_nav
        restated = 0.0
    else:
        last = stored["date"].iloc[-1]
        fresh = returns[returns.index > last]
        base = float(stored["nav"].iloc[-1])
        overlap = returns.reindex(pd.DatetimeIndex(stored["date"]))
        diff = np.abs(overlap.to_numpy() - stored["ret"].to_numpy())
        restated = float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0
    rows = pd.DataFrame(
        {
            "date": fresh.index,
            "ret": fresh.to_numpy(dtype=float),
            "nav": nav_from_returns(fresh.to_numpy(dtype=float), base),
        }
    )
    return rows, restated


def add_variant(
    engine, name: str, variant: Variant, snapshot: Snapshot
) -> tuple[trackdb.PortfolioInfo, UpdateOutcome]:
    """Register ``name`` (or find it, when the definition is identical) and backfill its NAV."""
    info, _created = trackdb.register_portfolio(
        engine,
        name,
        variant.variant_id,
        variant.kind,
        variant.spec,
        variant.overlay,
        snapshot.snapshot_id,
    )
    return info, _extend(engine, name, variant, snapshot)


def update_variant(engine, name: str, snapshot: Snapshot) -> UpdateOutcome:
    """Recompute ``name`` on ``snapshot`` and append the days after its last stored day."""
    info = trackdb.get_portfolio(engine, name)
    variant = Variant(info.kind, info.spec, info.overlay)
    if variant.variant_id != info.variant_id:
        raise trackdb.TrackError(
            f"portfolio {name!r}: stored definition does not match its variant id; "
            "the database was edited by hand"
        )
    return _extend(engine, name, variant, snapshot)


def _extend(engine, name: str, variant: Variant, snapshot: Snapshot) -> UpdateOutcome:
    returns = headline_returns(variant, snapshot)
    stored = trackdb.read_nav(engine, name)
    rows, restated = new_days(returns, stored)
    appended = trackdb.append_days(engine, name, rows, snapshot.snapshot_id)
    after = trackdb.get_portfolio(engine, name)
    return UpdateOutcome(
        name=name,
        snapshot_id=snapshot.snapshot_id,
        computed_days=len(returns),
        appended=appended,
        first_new=rows["date"].iloc[0] if appended else None,
        last_date=None if after.last_date is None else pd.Timestamp(after.last_date),
        last_nav=after.last_nav,
        max_restatement=restated,
    )
