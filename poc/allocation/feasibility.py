"""Whether an allocation's caps can hold its invested fraction on a universe of ``n`` assets.

A cap ``max_weight`` on ``n`` assets holds at most ``n x max_weight``; the EMA
model holds at most ``min(top_k, n)`` names. When that is below ``invested``
the models would silently sit partly in cash (e.g. ``max_weight 0.02`` on 20
assets is 40% invested), so such a request is refused up front, with advice
that the universe can meet (never a ``top_k`` above the asset count).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from poc.allocation.errors import AllocationError

_TOLERANCE = 1e-12


def max_holdings(config, n_assets: int) -> int:
    """How many assets the model may hold at once: ``min(top_k, n)`` for EMA, else ``n``."""
    if config.model == "ema":
        return min(int(config.top_k), n_assets)
    return n_assets


def infeasibility(config, n_assets: int) -> str | None:
    """Why ``config`` cannot be fully invested on ``n_assets`` assets, or None when it can.

    Parameters
    ----------
    config : AllocationConfig
        The cell's settings (``model``, ``max_weight``, ``invested``, ``top_k``).
    n_assets : int
        Assets in the universe (price columns).

    Returns
    -------
    str or None
        One sentence naming the numbers and a fix within the universe.
    """
    if n_assets < 1:
        return "the universe has no assets; check the snapshot's prices"
    held = max_holdings(config, n_assets)
    room = held * config.max_weight
    if room >= config.invested - _TOLERANCE:
        return None
    invested = config.invested
    needed_cap = invested / held
    counted = (
        f"top_k {config.top_k} of {n_assets} assets"
        if config.model == "ema" and config.top_k < n_assets
        else f"{n_assets} assets"
    )
    fixes = [f"raise max_weight to at least {needed_cap:.4g}"]
    if config.model == "ema":
        needed_k = math.ceil(invested / config.max_weight - _TOLERANCE)
        if needed_k <= n_assets:
            fixes.append(f"raise top_k to at least {needed_k}")
    fixes.append(f"lower invested to at most {room:.4g}")
    return (
        f"model {config.model}: max_weight {config.max_weight:g} x {counted} = {room:.4g} < "
        f"invested {invested:g}, so the portfolio could never be fully invested; "
        + ", or ".join(fixes)
    )


def check_feasible(config, n_assets: int) -> None:
    """Raise :class:`AllocationError` when ``config`` cannot be fully invested on ``n_assets``."""
    reason = infeasibility(config, n_assets)
    if reason:
        raise AllocationError(reason)


def check_cells_feasible(cells: Iterable[tuple[str, object]], n_assets: int) -> None:
    """Refuse a grid up front when any cell is infeasible, naming every such cell.

    Parameters
    ----------
    cells : iterable of (name, AllocationConfig)
    n_assets : int
    """
    reasons = []
    for name, config in cells:
        reason = infeasibility(config, n_assets)
        if reason:
            reasons.append(f"cell {name!r}: {reason}")
    if reasons:
        shown = "; ".join(reasons[:3])
        more = f" (and {len(reasons) - 3} more cell(s))" if len(reasons) > 3 else ""
        raise AllocationError(
            f"{len(reasons)} allocation cell(s) are infeasible on {n_assets} assets: {shown}{more}"
        )
