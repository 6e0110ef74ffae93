"""Daily P&L, turnover and costs of long-short books.

A stack holds ``B`` independent books over the same days: the whole
cross-section (``B = 1``) or one book per market-cap tercile (``B = 3``).
Two paths compute the same numbers:

* The fast path, for equal weights rebalanced daily with no or
  turnover-proportional costs, never materializes weights. It streams over
  blocks of days (:func:`main_leg_stats`, :func:`tercile_leg_stats`) and
  keeps, per book and day, each leg's size, the sum of its returns and how
  many of its names were already in it the day before; :func:`equal_weight_series`
  turns those into returns and turnover. Tercile books work on compact
  ``(3, days, W)`` arrays holding only each tercile's names (``W`` about
  ``N / 3``).
* :func:`weighted_books`, the general path with explicit ``(B, T, N)``
  weights: rank weights, caps, books held between rebalances and per-name
  spread costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poc.exceptions import MissingDataError
from poc.weights import Legs, capped_weights, form_legs, hold_weights, rank_bases, row_count

_LONG, _SHORT = 1, 4  # tercile leg codes: book k's long leg is k + 1, its short leg k + 4


@dataclass(frozen=True, eq=False)
class BookSeries:
    """Per book and earning day, each ``(B, T)``.

    ``long`` / ``short`` are the returns of each leg's basket (gross weight 1
    each, 0 when flat); ``n_long`` / ``n_short`` the names held (0 when
    flat); ``n_names`` the size of the day's cross-section.
    """

    long: np.ndarray
    short: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    n_long: np.ndarray
    n_short: np.ndarray
    n_names: np.ndarray


def _previous(values: np.ndarray) -> np.ndarray:
    """Each book's series shifted one day later, starting from 0 (the book starts in cash)."""
    out = np.zeros_like(values)
    out[:, 1:] = values[:, :-1]
    return out


# --------------------------------------------------------------------------
# Fast path: equal weights, daily, streamed over blocks of days
# --------------------------------------------------------------------------


class LegStats:
    """Per book and day: leg sizes, sums of returns and names kept from the day before.

    Filled block by block by :func:`main_leg_stats` / :func:`tercile_leg_stats`.
    """

    def __init__(self, books: int, days: int):
        shape = (books, days)
        self.n = np.zeros(shape, dtype=np.int64)
        self.flat = np.ones(shape, dtype=bool)
        self.size = {leg: np.zeros(shape, dtype=np.int64) for leg in ("long", "short")}
        self.total = {leg: np.zeros(shape) for leg in ("long", "short")}
        self.kept = {leg: np.zeros(shape, dtype=np.int64) for leg in ("long", "short")}

    def record(self, rows: slice, legs: Legs, returns: np.ndarray, kept: dict) -> None:
        """Store one block's legs (``(B, days, W)``) and the returns they earn."""
        subscripts = "btn,tn->bt" if returns.ndim == 2 else "btn,btn->bt"
        self.n[:, rows] = legs.n
        self.flat[:, rows] = legs.flat
        for leg, mask, size in (
            ("long", legs.long, legs.n_long),
            ("short", legs.short, legs.n_short),
        ):
            self.size[leg][:, rows] = size
            self.total[leg][:, rows] = np.einsum(subscripts, mask, returns)
            self.kept[leg][:, rows] = kept[leg]


def main_leg_stats(
    values: np.ndarray, returns: np.ndarray, fractile, mincos: int, carry: dict | None
) -> tuple[Legs, dict, dict]:
    """Legs of the whole-cross-section book on a block of days.

    Parameters
    ----------
    values : numpy.ndarray
        ``(days, N)`` signal, NaN outside the cross-section.
    returns : numpy.ndarray
        ``(days, N)`` returns earned (0 outside the cross-section).
    carry : dict or None
        The previous block's last leg masks (None for the first block).

    Returns
    -------
    legs : Legs
    kept : dict
        Per leg, ``(1, days)`` names in the leg on both the day and the day before.
    carry : dict
        This block's last leg masks.
    """
    legs = form_legs(values[None], fractile, mincos)
    kept = {}
    for leg, mask in (("long", legs.long[0]), ("short", legs.short[0])):
        before = np.empty_like(mask)
        before[1:] = mask[:-1]
        before[0] = carry[leg] if carry is not None else False
        kept[leg] = row_count(mask & before)[None]
    return legs, kept, {"long": legs.long[0, -1].copy(), "short": legs.short[0, -1].copy()}


def tercile_leg_stats(
    values: np.ndarray,
    returns: np.ndarray,
    flat: np.ndarray,
    pad: np.ndarray,
    fractile,
    mincos: int,
    carry: np.ndarray | None,
) -> tuple[Legs, np.ndarray, dict, np.ndarray]:
    """Legs of the three cap-tercile books on a block of days, on compact arrays.

    Parameters
    ----------
    values, returns : numpy.ndarray
        ``(days, N)`` as for :func:`main_leg_stats`.
    flat, pad : numpy.ndarray
        ``(3, days, W)`` the block's slice of :class:`poc.panel.TercileLayout`,
        with ``flat`` relative to the block's first day.
    carry : numpy.ndarray or None
        ``(N,)`` int8 leg code of each name on the day before the block.

    Returns
    -------
    legs : Legs
        On the compact ``(3, days, W)`` layout.
    earned : numpy.ndarray
        ``(3, days, W)`` returns of the compact slots.
    kept : dict
        Per leg, ``(3, days)`` names in the book's leg on both days. A name
        that moved to another tercile left one book and entered the other.
    carry : numpy.ndarray
        The block's last day of leg codes.
    """
    days, n_names = values.shape
    size = days * n_names
    signal = values.ravel().take(flat, mode="clip")
    np.copyto(signal, np.nan, where=pad)
    earned = returns.ravel().take(flat, mode="clip")
    legs = form_legs(signal, fractile, mincos)
    book = np.arange(3, dtype=np.int8)[:, None, None]
    code = legs.long * (book + np.int8(_LONG))
    code += legs.short * (book + np.int8(_SHORT))
    # Leg codes by name, one row per day, with the day before the block on
    # row 0: a member kept its place when the same slot one row up has its code.
    marks = np.zeros(size + n_names + 1, dtype=np.int8)
    marks[:n_names] = 0 if carry is None else carry
    slot = np.where(pad, size, flat) + n_names
    marks[slot] = code
    marks[-1] = 0
    before = marks.take(slot - n_names)
    same = (before == code) & (code > 0)
    kept = {"long": row_count(same & legs.long), "short": row_count(same & legs.short)}
    return legs, earned, kept, marks[size : size + n_names].copy()


def equal_weight_series(stats: LegStats, rate: float) -> BookSeries:
    """Returns and turnover of equal-weighted legs from their per-day statistics.

    With weight ``a_t = 1 / size_t`` (0 when flat) on a leg's names,
    ``sum_i |w_t,i - w_t-1,i| = kept |a_t - a_t-1| + (size_t - kept) a_t +
    (size_t-1 - kept) a_t-1`` where ``kept`` counts names in the leg on both days.
    The legs of a day that is not flat never share a name, so the book's
    turnover is the sum of its legs'.
    """
    returns, turnover, held = {}, 0.0, {}
    for leg in ("long", "short"):
        size, kept = stats.size[leg], stats.kept[leg]
        with np.errstate(divide="ignore"):
            weight = np.where(stats.flat | (size == 0), 0.0, 1.0 / size)
        returns[leg] = stats.total[leg] * weight
        prev_weight, prev_size = _previous(weight), _previous(size)
        turnover = turnover + (
            kept * np.abs(weight - prev_weight)
            + (size - kept) * weight
            + (prev_size - kept) * prev_weight
        )
        held[leg] = np.where(stats.flat, 0, size)
    return BookSeries(
        long=returns["long"],
        short=returns["short"],
        turnover=turnover,
        cost=turnover * rate,
        n_long=held["long"],
        n_short=held["short"],
        n_names=stats.n,
    )


# --------------------------------------------------------------------------
# General path: explicit weights
# --------------------------------------------------------------------------


def weighted_books(
    signal: np.ndarray,
    returns: np.ndarray,
    config,
    anchor: np.ndarray | None,
    tradable: np.ndarray,
    spread: np.ndarray | None,
) -> BookSeries:
    """Books with explicit weights (rank weights, caps, held books, spread costs).

    Parameters
    ----------
    signal : numpy.ndarray
        ``(B, T, N)`` values, NaN outside each book's cross-section.
    returns : numpy.ndarray
        ``(T, N)`` returns earned (0 where there is none).
    config : BacktestConfig
    anchor : numpy.ndarray or None
        ``(T,)`` row of the latest rebalance, or None to rebalance daily.
    tradable : numpy.ndarray
        ``(T, N)`` bool: the name has a return that day (inside the window).
    spread : numpy.ndarray or None
        ``(T, N)`` half-spread charged per unit traded (``tc_model='spread'``).
    """
    legs = form_legs(signal, config.fractile, config.mincos)
    if config.weight == "signal":
        base_long, base_short = rank_bases(signal, legs)
    else:
        base_long, base_short = legs.long.astype(np.float64), legs.short.astype(np.float64)
    flat = legs.flat[..., None]
    w_long = capped_weights(np.where(flat, 0.0, base_long), config.max_weight)
    w_short = capped_weights(np.where(flat, 0.0, base_short), config.max_weight)
    del base_long, base_short
    if anchor is not None:
        w_long, n_long = hold_weights(w_long, anchor, tradable, config.mincos, config.max_weight)
        w_short, n_short = hold_weights(w_short, anchor, tradable, config.mincos, config.max_weight)
        # Too few held names in either leg and the whole book is flat that day.
        empty = ((n_long < config.mincos) | (n_short < config.mincos))[..., None]
        w_long = np.where(empty, 0.0, w_long)
        w_short = np.where(empty, 0.0, w_short)
    long_ret = np.einsum("btn,tn->bt", w_long, returns)
    short_ret = np.einsum("btn,tn->bt", w_short, returns)
    n_long = np.count_nonzero(w_long > 0, axis=-1)
    n_short = np.count_nonzero(w_short > 0, axis=-1)
    weights = w_long
    weights -= w_short
    del w_short
    change = np.diff(weights, axis=-2, prepend=0.0)
    del weights
    np.abs(change, out=change)
    turnover = change.sum(axis=-1)
    if spread is None:
        rate = config.tc_bps / 1e4 if config.tc_model == "naive" else 0.0
        cost = turnover * rate
    else:
        unknown = (change > 0) & ~np.isfinite(spread)
        if unknown.any():
            raise MissingDataError(
                f"{int(unknown.sum())} trade(s) have no half_spread on the trade day, the "
                "earning day or in that day's cross-section; use tc_model='naive'"
            )
        cost = np.einsum("btn,tn->bt", change, np.nan_to_num(spread, nan=0.0))
    return BookSeries(long_ret, short_ret, turnover, cost, n_long, n_short, legs.n)


def trade_half_spread(half_spread: np.ndarray, shift: int) -> np.ndarray:
    """Half-spread charged on the trades into each earning row ``e = shift + row``.

    The name's latest quote on or before the trade day ``e - 1``; for a name
    without one yet, its quote on ``e``; else the mean quote of day ``e``.
    """
    t = half_spread.shape[0]
    finite = np.isfinite(half_spread)
    last = np.maximum.accumulate(np.where(finite, np.arange(t)[:, None], -1), axis=0)
    latest = np.take_along_axis(half_spread, np.maximum(last, 0), axis=0)
    latest[last < 0] = np.nan
    trade_day = latest[shift - 1 : t - 1]
    same_day = half_spread[shift:]
    quoted = np.isfinite(same_day)
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = np.where(quoted, same_day, 0.0).sum(axis=1) / quoted.sum(axis=1)
    out = np.where(np.isfinite(trade_day), trade_day, same_day)
    return np.where(np.isfinite(out), out, fallback[:, None])
