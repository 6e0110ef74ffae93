"""Arrays derived from a panel's data alone (never from a signal).

* :func:`cap_terciles`: each name's market-cap tercile per day;
* :func:`tercile_layout`: each day's names grouped by tercile as compact
  index arrays, so a per-tercile book works on ``N / 3`` columns;
* :func:`standardized_stack`: the style exposures as one ``(T, p, N)`` array
  standardized per day, for the residualization.

:class:`poc.panel.Panel` computes them once and keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAP_TERCILES = ("small", "mid", "large")


@dataclass(frozen=True, eq=False)
class TercileLayout:
    """Where each cap tercile's names sit, day by day, as compact index arrays.

    Attributes
    ----------
    flat : numpy.ndarray
        ``(3, T, W)`` int64 index ``t * N + column`` into a ``(T, N)`` array of
        the ``w``-th name of tercile ``k`` on day ``t`` (0 on padding).
    pad : numpy.ndarray
        ``(3, T, W)`` bool: padding (the tercile has fewer than ``W`` names).
    """

    flat: np.ndarray
    pad: np.ndarray


def tercile_layout(cap_tercile: np.ndarray) -> TercileLayout:
    """Compact per-day index of the names in each cap tercile (-1 = no cap, left out)."""
    t, n = cap_tercile.shape
    key = np.where(cap_tercile >= 0, cap_tercile, len(CAP_TERCILES)).astype(np.int8)
    order = np.argsort(key, axis=1, kind="stable")
    counts = np.stack([(key == k).sum(axis=1) for k in range(len(CAP_TERCILES))], axis=1)
    starts = np.concatenate([np.zeros((t, 1), np.int64), np.cumsum(counts, axis=1)[:, :-1]], 1)
    width = max(int(counts.max()) if counts.size else 0, 1)
    slot = np.arange(width)
    pad = slot >= counts[:, :, None]
    position = np.minimum(starts[:, :, None] + slot, n - 1).reshape(t, -1)
    columns = np.take_along_axis(order, position, axis=1).reshape(t, len(CAP_TERCILES), width)
    flat = np.where(pad, 0, np.arange(t)[:, None, None] * n + columns)
    return TercileLayout(
        np.ascontiguousarray(flat.transpose(1, 0, 2)), np.ascontiguousarray(pad.transpose(1, 0, 2))
    )


def cap_terciles(mcap: np.ndarray) -> np.ndarray:
    """Market-cap tercile per day among names with a finite, positive cap.

    A name's tercile is ``floor(3 * (number of caps at or below it - 1) / n)``
    (0 small, 1 mid, 2 large; -1 without a cap), so tied caps share a tercile.
    """
    has_cap = np.isfinite(mcap) & (mcap > 0)
    filled = np.where(has_cap, mcap, np.inf)
    ordered = np.sort(filled, axis=1)
    n = has_cap.sum(axis=1)
    out = np.zeros(mcap.shape, dtype=np.int8)
    rows = np.arange(mcap.shape[0])
    for k in (1, 2):
        # A name is in tercile >= k when its cap reaches the value at sorted
        # position ceil(k * n / 3): then (count at or below it) - 1 >= that position.
        pos = -((-k * n) // 3)
        inside = pos < mcap.shape[1]
        bound = np.where(inside, ordered[rows, np.minimum(pos, mcap.shape[1] - 1)], np.inf)
        out += filled >= bound[:, None]
    out[~has_cap] = -1
    return out


def standardized_stack(styles: list[np.ndarray]) -> np.ndarray:
    """Styles as one ``(T, p, N)`` array, standardized per day, 0 where missing.

    Each style is centered and scaled by its cross-sectional mean and
    (population) standard deviation over the names that have it that day; a
    style constant on a day becomes 0 there.
    """
    t, n = styles[0].shape
    stack = np.zeros((t, len(styles), n))
    for j, values in enumerate(styles):
        finite = np.isfinite(values)
        count = finite.sum(axis=1, keepdims=True)
        filled = np.where(finite, values, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = filled.sum(axis=1, keepdims=True) / count
            centered = np.where(finite, values - mean, 0.0)
            scale = np.sqrt((centered * centered).sum(axis=1, keepdims=True) / count)
            stack[:, j, :] = np.where(scale > 0, centered / scale, 0.0)
    return stack
