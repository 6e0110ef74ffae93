"""Long and short legs, leg weights, caps and held books, for every day at once.

Arrays are ``(B, T, N)``: ``B`` independent books (the whole cross-section,
or one per market-cap tercile), ``T`` days, ``N`` names. A book's
cross-section on a day is the set of finite entries of its signal row; NaN
means "not in the cross-section" (no position), never zero.

Leg membership follows ``docs/conventions.md``: with ``n`` names and fractile
``(low, high)``, the long leg holds the names at or above the ``high``
percentile of the day's values and the short leg those at or below the
``low`` percentile (linear interpolation, as ``numpy.percentile``). For a
sorted row ``v`` that is exactly ``signal >= v[ceil(high * (n - 1) / 100)]``
and ``signal <= v[floor(low * (n - 1) / 100)]``; the positions are computed
in exact rational arithmetic so no rounding ever moves a name across the
boundary. Tied values are always on the same side. A day is flat when it has
fewer than two names, a leg has fewer than ``mincos`` names, or the two
boundary values are equal (one tied value spans both percentiles, so the
legs would overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True, eq=False)
class Legs:
    """Leg membership of every book-day.

    Attributes
    ----------
    long, short : numpy.ndarray
        ``(B, T, N)`` bool membership (legs are disjoint when ``n >= 2``).
    n, n_long, n_short : numpy.ndarray
        ``(B, T)`` names in the cross-section and in each leg.
    flat : numpy.ndarray
        ``(B, T)`` bool: fewer than two names, a leg below ``mincos``, or
        overlapping legs.
    ordered : numpy.ndarray
        ``(B, T, N)`` each row's values sorted ascending, +inf padded.
    """

    long: np.ndarray
    short: np.ndarray
    n: np.ndarray
    n_long: np.ndarray
    n_short: np.ndarray
    flat: np.ndarray
    ordered: np.ndarray


@lru_cache(maxsize=64)
def _position_table(percentile: float, side: str, n_max: int) -> np.ndarray:
    numerator, denominator = float(percentile).as_integer_ratio()
    table = np.zeros(n_max + 1, dtype=np.int64)
    for size in range(1, n_max + 1):
        num, den = numerator * (size - 1), 100 * denominator
        table[size] = -(-num // den) if side == "high" else num // den
    table.setflags(write=False)
    return table


def percentile_positions(n: np.ndarray, percentile: float, side: str) -> np.ndarray:
    """Sorted position of the ``percentile`` boundary for cross-sections of ``n`` names.

    ``side="high"`` gives ``ceil(p * (n - 1) / 100)`` (the first position at
    or above the percentile), ``side="low"`` gives ``floor(p * (n - 1) / 100)``;
    computed exactly in integers on the float's binary value (a table per
    percentile, cached). Sizes below 1 give position 0.
    """
    n = np.asarray(n)
    n_max = int(n.max()) if n.size else 0
    # Round the table size up to a power of two so a few tables serve all panels.
    table = _position_table(float(percentile), side, 1 << max(n_max, 1).bit_length())
    return table[n]


def row_count(mask: np.ndarray) -> np.ndarray:
    """True entries per row (last axis), as int64.

    Summing in int32 is about twice as fast as ``count_nonzero(axis=...)``.
    """
    return mask.sum(axis=-1, dtype=np.int32).astype(np.int64)


def sorted_rows(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted ascending with NaN as +inf, and the count of finite entries per row.

    NaN is replaced by +inf first: numpy sorts rows containing NaN several
    times more slowly (``fmin`` ignores NaN, so ``fmin(x, inf)`` does it in
    one fast pass).
    """
    ordered = np.fmin(signal, np.inf)
    ordered.sort(axis=-1)
    return ordered, row_count(ordered < np.inf)


def value_at(ordered: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``ordered[..., position]`` per row (positions clipped into the row)."""
    clipped = np.clip(position, 0, ordered.shape[-1] - 1)
    return np.take_along_axis(ordered, clipped[..., None], axis=-1)[..., 0]


def form_legs(signal: np.ndarray, fractile: tuple[float, float], mincos: int) -> Legs:
    """Long and short legs of every book-day from the signal cross-sections.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(B, T, N)`` values, NaN outside the cross-section.
    fractile : (float, float)
        Low and high percentiles, ``0 <= low < high <= 100``.
    mincos : int
        A day with fewer names than this in either leg is flat.
    """
    ordered, n = sorted_rows(signal)
    high = percentile_positions(n, fractile[1], "high")
    low = percentile_positions(n, fractile[0], "low")
    high_value = value_at(ordered, high)
    low_value = value_at(ordered, low)
    # NaN compares False, so names outside the cross-section never enter a leg.
    long = signal >= high_value[..., None]
    short = signal <= low_value[..., None]
    # Leg sizes from the sorted positions; only a value tied across a boundary
    # (rare) needs counting.
    n_long = n - high
    n_short = np.where(n > 0, low + 1, 0)
    tied = (high > 0) & (value_at(ordered, high - 1) == high_value)
    if tied.any():
        n_long = np.where(tied, row_count(long), n_long)
    tied = (low + 1 < n) & (value_at(ordered, low + 1) == low_value)
    if tied.any():
        n_short = np.where(tied, row_count(short), n_short)
    # Equal boundary values mean one tied value spans both percentiles: the
    # legs would share names and the signal says nothing, so the day is flat.
    flat = (n < 2) | (n_long < mincos) | (n_short < mincos) | (low_value == high_value)
    return Legs(long, short, n, n_long, n_short, flat, ordered)


def average_ranks(signal: np.ndarray) -> np.ndarray:
    """Average ranks (1..n) of the finite entries of each row; NaN elsewhere.

    Ties share the mean of the positions they occupy, as ``pandas.rank``'s
    ``method="average"``.
    """
    finite = np.isfinite(signal)
    filled = np.fmin(signal, np.inf)
    order = np.argsort(filled, axis=-1)
    ordered = np.take_along_axis(filled, order, axis=-1)
    n = signal.shape[-1]
    index = np.arange(n)
    starts_group = np.ones(ordered.shape, dtype=bool)
    starts_group[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    ends_group = np.ones(ordered.shape, dtype=bool)
    ends_group[..., :-1] = starts_group[..., 1:]
    first = np.maximum.accumulate(np.where(starts_group, index, 0), axis=-1)
    last = np.flip(
        np.minimum.accumulate(np.flip(np.where(ends_group, index, n - 1), axis=-1), axis=-1),
        axis=-1,
    )
    ranks_sorted = (first + last) / 2.0 + 1.0
    ranks = np.empty(signal.shape)
    np.put_along_axis(ranks, order, ranks_sorted, axis=-1)
    return np.where(finite, ranks, np.nan)


def rank_bases(signal: np.ndarray, legs: Legs) -> tuple[np.ndarray, np.ndarray]:
    """Rank-proportional base weights within each leg (before normalization).

    The long leg's names get their average rank within the leg (1 for the
    lowest value in the leg, ``n_long`` for the highest); the short leg's
    names get their rank counted from the other end (``n_short`` for the
    lowest value). Both legs are contiguous blocks of the sorted day, so the
    rank within a leg is the rank within the day shifted.
    """
    ranks = average_ranks(signal)
    offset = (legs.n - legs.n_long)[..., None]
    base_long = np.where(legs.long, ranks - offset, 0.0)
    base_short = np.where(legs.short, legs.n_short[..., None] + 1.0 - ranks, 0.0)
    return base_long, base_short


def capped_weights(base: np.ndarray, cap: float | None) -> np.ndarray:
    """Normalize non-negative ``base`` weights to sum 1 per row, no weight above ``cap``.

    The cap is met by water-filling: ``w = min(cap, lam * base)`` with ``lam``
    chosen so each row sums to 1, i.e. the excess of capped names is
    redistributed pro rata to the others, exactly. Rows whose base sums to 0
    stay 0. The caller guarantees ``cap * (names in the row) >= 1``.
    """
    total = base.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.where(total > 0, base / total, 0.0)
    if cap is None:
        return weights
    capped = np.zeros(base.shape, dtype=bool)
    positive = base > 0
    # Each round caps every name the current multiplier pushes over the cap;
    # the multiplier only grows, so a capped name stays capped and the loop
    # ends after at most N rounds (in practice a handful).
    for _ in range(base.shape[-1] + 1):
        over = weights > cap * (1.0 + 1e-12)
        if not over.any():
            break
        capped |= over
        free_mass = 1.0 - cap * capped.sum(axis=-1, keepdims=True)
        free_base = np.where(capped, 0.0, base).sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            multiplier = np.where(free_base > 0, free_mass / free_base, 0.0)
        weights = np.where(capped, cap, np.where(positive, base * multiplier, 0.0))
    return weights


def rebalance_anchor(is_rebalance: np.ndarray) -> np.ndarray:
    """Row of the latest rebalance on or before each row; -1 before the first one."""
    index = np.where(is_rebalance, np.arange(len(is_rebalance)), -1)
    return np.maximum.accumulate(index)


def hold_weights(
    formed: np.ndarray,
    anchor: np.ndarray,
    tradable: np.ndarray,
    mincos: int,
    cap: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights held from the latest rebalance, restricted to names that can be held today.

    Parameters
    ----------
    formed : numpy.ndarray
        ``(B, T, N)`` leg weights formed each day (summing to 1 or 0 per row).
    anchor : numpy.ndarray
        ``(T,)`` row of the latest rebalance (-1: none yet).
    tradable : numpy.ndarray
        ``(T, N)`` bool: the name has a return to earn that day.
    mincos : int
        Fewer held names than this and the leg is empty that day.
    cap : float or None
        Per-name cap, re-applied after renormalizing.

    Returns
    -------
    weights : numpy.ndarray
        ``(B, T, N)``: the rebalance's weights on the names still tradable,
        renormalized to 1 (a name without a return that day drops out and
        its weight goes pro rata to the rest of the leg).
    count : numpy.ndarray
        ``(B, T)`` names held.
    """
    base = formed[:, np.maximum(anchor, 0), :]
    base = np.where(tradable & (anchor >= 0)[:, None], base, 0.0)
    count = np.count_nonzero(base > 0, axis=-1)
    return capped_weights(base, cap), count
