"""Regime compatibility of sleeves: the default matrix and its expansion to assets.

The rotation engine this replaces scored six option profiles with a
regime x profile matrix (1.0 = made for this regime, 0 = stay out). Its five
regimes are kept; its profiles are replaced by the eleven GICS sectors, mapped
by what each profile was paid for:

* long-dated gamma and vanna (paid by up-trends and calm rallies) -> growth and
  cyclical sectors (information technology, consumer discretionary,
  communication services, then industrials, financials, materials);
* short-dated gamma and skew (paid by sell-offs) -> defensives (consumer
  staples, health care, utilities);
* charm (pinned, compressed markets) -> rate- and carry-sensitive cyclicals
  (financials, industrials, real estate);
* vol-of-vol (breaking volatility) -> the lowest-beta defensives only.

The numbers are illustrative priors in the seed's style, not fitted to data;
pass your own matrix to :class:`~poc.allocation.models.RegimeRotation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from poc.allocation.errors import AllocationError
from poc.allocation.regime import REGIMES

_SECTOR_ROWS = {
    # sector:                   trend_up, trend_down, compression, breaking_vol, choppy
    "Information Technology": (1.0, 0.1, 0.6, 0.0, 0.3),
    "Consumer Discretionary": (1.0, 0.0, 0.6, 0.0, 0.2),
    "Communication Services": (0.8, 0.1, 0.5, 0.0, 0.3),
    "Financials": (0.6, 0.0, 1.0, 0.0, 0.3),
    "Industrials": (0.6, 0.1, 1.0, 0.0, 0.4),
    "Materials": (0.5, 0.1, 0.6, 0.0, 0.4),
    "Real Estate": (0.3, 0.2, 0.8, 0.1, 0.5),
    "Energy": (0.3, 0.4, 0.4, 0.2, 0.6),
    "Health Care": (0.3, 1.0, 0.3, 0.8, 1.0),
    "Consumer Staples": (0.2, 1.0, 0.3, 1.0, 0.8),
    "Utilities": (0.2, 0.8, 0.4, 1.0, 0.6),
}

DEFAULT_COMPATIBILITY = pd.DataFrame(_SECTOR_ROWS, index=list(REGIMES))
"""Regime (rows) x GICS sector (columns) compatibility in [0, 1]."""


def asset_compatibility(
    matrix: pd.DataFrame | Mapping, assets: pd.Index, sectors: Mapping[str, str] | None
) -> pd.DataFrame:
    """Expand a regime x (asset or sector) matrix to regime x asset.

    Parameters
    ----------
    matrix : DataFrame or mapping
        Rows (index) are regimes and must include all of :data:`REGIMES`;
        columns are asset names or sector names. A mapping is read as
        ``{column: {regime: value}}``.
    assets : Index
        The assets to allocate across.
    sectors : mapping of asset to sector, optional
        Used for assets that have no column of their own.

    Returns
    -------
    DataFrame
        Regimes x assets, finite and >= 0.

    Raises
    ------
    AllocationError
        When a regime row is missing, a value is negative or not finite, or an
        asset has neither its own column nor a sector column.
    """
    if not isinstance(matrix, pd.DataFrame):
        matrix = pd.DataFrame(matrix)
    missing_regimes = [r for r in REGIMES if r not in matrix.index]
    if missing_regimes:
        raise AllocationError(
            f"compatibility matrix lacks regime rows {missing_regimes}; "
            f"rows must be {list(REGIMES)}"
        )
    matrix = matrix.loc[list(REGIMES)].astype(np.float64)
    values = matrix.to_numpy()
    if not np.isfinite(values).all() or (values < 0).any():
        raise AllocationError("compatibility values must be finite and >= 0")
    sectors = dict(sectors or {})
    unmatched = [
        f"{asset} (sector {sectors.get(asset)!r})"
        for asset in unmatched_assets(matrix.columns, assets, sectors)
    ]
    if unmatched:
        raise AllocationError(
            f"no compatibility column for {len(unmatched)} asset(s): {unmatched[:5]}. The matrix "
            f"has columns {list(matrix.columns)[:12]}; pass sectors={{asset: sector}} "
            "(allocation_sectors(snapshot) gives them) or add a column per asset"
        )
    columns = {a: matrix[a if a in matrix.columns else sectors[a]] for a in assets}
    return pd.DataFrame(columns, index=list(REGIMES))


def unmatched_assets(
    columns: Iterable[str], assets: Iterable[str], sectors: Mapping[str, str] | None
) -> list[str]:
    """The assets that have neither their own column nor their sector's among ``columns``."""
    known = set(columns)
    sectors = sectors or {}
    return [a for a in assets if a not in known and sectors.get(a) not in known]


def check_regime_sectors(
    assets: list[str], sectors: Mapping[str, str] | None, snapshot_id: str
) -> None:
    """Refuse the regime model up front when the default matrix cannot cover the universe.

    :data:`DEFAULT_COMPATIBILITY` is per GICS sector, so the regime model needs every
    asset's ``securities.sector`` to be a GICS sector name. Synthetic snapshots carry
    made-up industry codes (``IND01``...); mapping them onto GICS sectors would invent an
    economic meaning they do not have, so the suite is refused before any cell runs.

    Raises
    ------
    AllocationError
        Naming the snapshot, the unmatched assets and sectors, and the fixes.
    """
    missing = unmatched_assets(DEFAULT_COMPATIBILITY.columns, assets, sectors)
    if not missing:
        return
    sectors = sectors or {}
    found = sorted({str(sectors.get(a) or "none") for a in missing})
    examples = ", ".join(f"{a} ({sectors.get(a) or 'no sector'})" for a in missing[:3])
    raise AllocationError(
        f"model regime cannot run on snapshot {snapshot_id!r}: its compatibility matrix is per "
        f"GICS sector, and {len(missing)} of {len(assets)} assets have no GICS sector in "
        f"securities.sector (e.g. {examples}; sectors found: {found[:6]}; GICS sectors: "
        f"{', '.join(DEFAULT_COMPATIBILITY.columns)}). Drop regime from the grid "
        "(--model ema,hrp, or -P model=ema,hrp under mlflow run) or use a snapshot whose "
        "securities.sector holds GICS sector names (the bundled sp500-v1 does)"
    )
