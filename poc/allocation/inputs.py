"""Allocation inputs from a snapshot: a price panel, benchmark returns and sectors.

The snapshot is used through its ``read`` and ``calendar`` methods only
(:class:`poc.catalog.Snapshot`), so this module needs no catalog import.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from poc.allocation.errors import AllocationError

logger = logging.getLogger(__name__)


def _asset_names(snapshot) -> pd.Series:
    """security_id -> column name: the ticker when tickers are present and unique, else the id."""
    securities = snapshot.read("securities")
    ids = securities["security_id"]
    tickers = securities.get("ticker")
    usable = (
        tickers is not None
        and tickers.notna().all()
        and (tickers.astype(str).str.len() > 0).all()
        and not tickers.duplicated().any()
    )
    names = tickers.astype(str) if usable else ids.astype(str)
    if not usable:
        logger.info("snapshot %s: tickers missing or not unique; columns are security ids",
                    snapshot.snapshot_id)  # fmt: skip
    return pd.Series(names.to_numpy(), index=ids.to_numpy())


def allocation_inputs(snapshot) -> tuple[pd.DataFrame, pd.Series]:
    """Prices (dates x tickers) and benchmark returns from a snapshot.

    Parameters
    ----------
    snapshot : poc.catalog.Snapshot

    Returns
    -------
    prices : DataFrame
        Adjusted closes (``close_adj``) on the snapshot's full calendar, one
        column per ticker, NaN where a security has no row. When the snapshot
        has no ``close_adj``, a total-return index ``cumprod(1 + ret)`` per
        security is used instead, defined on the dates with a return (its level
        is arbitrary; returns between consecutive observed dates are exact).
    benchmark : Series
        Benchmark daily returns on the same dates (NaN where absent).

    Raises
    ------
    AllocationError
        When the snapshot has no benchmark table.
    """
    if not snapshot.has_table("benchmark"):
        raise AllocationError(
            f"snapshot {snapshot.snapshot_id!r} has no benchmark table; allocation analytics "
            "and the regime model need one. Build the snapshot with a benchmark file"
        )
    calendar = pd.DatetimeIndex(snapshot.calendar(), name="date")
    names = _asset_names(snapshot)
    if snapshot.has_column("returns", "close_adj"):
        rows = snapshot.read("returns", ["security_id", "date", "close_adj"])
        wide = rows.pivot(index="date", columns="security_id", values="close_adj")
    else:
        logger.info("snapshot %s has no close_adj; using cumprod(1 + ret) as prices",
                    snapshot.snapshot_id)  # fmt: skip
        rows = snapshot.read("returns", ["security_id", "date", "ret"])
        rets = rows.pivot(index="date", columns="security_id", values="ret")
        rets.index = pd.DatetimeIndex(rets.index)
        rets = rets.reindex(calendar)
        # Prices exist only where a return was observed (NaN = no observation: not
        # tradable that day, and the simulator marks the position at its last close).
        wide = (1.0 + rets.fillna(0.0)).cumprod().where(rets.notna())
    wide.index = pd.DatetimeIndex(wide.index)
    prices = wide.reindex(calendar).astype(np.float64)
    prices.columns = pd.Index([names.get(c, str(c)) for c in prices.columns], name="asset")
    bench = snapshot.read("benchmark", ["date", "ret"])
    benchmark = (
        pd.Series(bench["ret"].to_numpy(np.float64), index=pd.DatetimeIndex(bench["date"]))
        .reindex(calendar)
        .rename("benchmark")
    )
    return prices, benchmark


def allocation_sectors(snapshot) -> dict[str, str]:
    """Column name (ticker) -> sector, for the assets that have a non-empty sector."""
    names = _asset_names(snapshot)
    securities = snapshot.read("securities")
    if "sector" not in securities:
        return {}
    out = {}
    for sid, sector in zip(securities["security_id"], securities["sector"], strict=True):
        if isinstance(sector, str) and sector:
            out[names[sid]] = sector
    return out
