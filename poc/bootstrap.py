"""Stationary block bootstrap of metric differences between return series (pure numpy).

Politis & Romano's stationary bootstrap resamples a daily series in blocks of
geometric random length (mean ``block``), wrapping around the end, so serial
dependence (volatility clustering, autocorrelated strategy returns) survives the
resampling. Two variants compared on the same days are resampled with the *same*
indices (a paired bootstrap): their correlation is kept, so the interval is for the
difference, not for two independent numbers.

Everything is vectorized over a ``(n_boot, T)`` index matrix; the generator is
seeded, so the same inputs give the same intervals.

Metrics follow docs/conventions.md: Sharpe = mean/std (ddof=1) x sqrt(252), CAGR
compounded with 252 days a year, volatility = std x sqrt(252), max drawdown on the
compounded curve as a negative fraction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PERIODS_PER_YEAR = 252


def stationary_indices(n: int, n_boot: int, block: float, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` resampling indices of the stationary bootstrap.

    Each row starts a new block at day 0 and then with probability ``1 / block``
    on every day; inside a block the index advances by one, wrapping at ``n``.

    Parameters
    ----------
    n : int
        Series length.
    n_boot : int
        Number of resamples.
    block : float
        Mean block length in days (1 gives the i.i.d. bootstrap).
    rng : numpy.random.Generator
    """
    if n < 1 or n_boot < 1:
        raise ValueError(f"need n >= 1 and n_boot >= 1, got n={n}, n_boot={n_boot}")
    if block < 1:
        raise ValueError(f"mean block length must be >= 1 day, got {block}")
    new_block = rng.random((n_boot, n)) < 1.0 / block
    new_block[:, 0] = True
    starts = rng.integers(0, n, size=(n_boot, n))
    positions = np.broadcast_to(np.arange(n), (n_boot, n))
    # Position where the current block began, carried forward along each row.
    began = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
    origin = np.take_along_axis(starts, began, axis=1)
    return (origin + positions - began) % n


def sharpe_rows(r: np.ndarray) -> np.ndarray:
    """Annualized Sharpe of each row (NaN where the row has zero variance)."""
    std = r.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = r.mean(axis=-1) / std * np.sqrt(PERIODS_PER_YEAR)
    return np.where(std > 0, out, np.nan)


def cagr_rows(r: np.ndarray) -> np.ndarray:
    """Compounded annual return of each row (NaN when the curve reaches zero)."""
    log_growth = np.log1p(np.clip(r, -1.0, None)).sum(axis=-1)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.expm1(log_growth * PERIODS_PER_YEAR / r.shape[-1])
    return np.where(np.isfinite(log_growth), out, np.nan)


def vol_rows(r: np.ndarray) -> np.ndarray:
    """Annualized volatility of each row."""
    return r.std(axis=-1, ddof=1) * np.sqrt(PERIODS_PER_YEAR)


def max_drawdown_rows(r: np.ndarray) -> np.ndarray:
    """Maximum drawdown of each row's compounded curve (a negative fraction or 0)."""
    wealth = np.cumprod(1.0 + r, axis=-1)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0), axis=-1)
    return (wealth / peak - 1.0).min(axis=-1)


METRICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sharpe": sharpe_rows,
    "cagr": cagr_rows,
    "max_dd": max_drawdown_rows,
    "ann_vol": vol_rows,
}


@dataclass(frozen=True)
class DiffInterval:
    """A metric of B minus the same metric of A, with its bootstrap interval."""

    metric: str
    value_a: float
    value_b: float
    difference: float
    low: float
    high: float
    n_boot: int

    @property
    def covers_zero(self) -> bool:
        return bool(self.low <= 0.0 <= self.high)


def paired_difference_intervals(
    a: np.ndarray,
    b: np.ndarray,
    metrics: tuple[str, ...] = tuple(METRICS),
    n_boot: int = 1000,
    block: float = 20.0,
    level: float = 0.95,
    seed: int = 0,
) -> list[DiffInterval]:
    """Percentile intervals of ``metric(b) - metric(a)`` under the paired stationary bootstrap.

    Parameters
    ----------
    a, b : ndarray
        Daily returns of the two variants on the same days (no NaN).
    metrics : tuple of str
        Keys of :data:`METRICS`.
    n_boot, block, level, seed
        Resamples, mean block length (days), interval level, generator seed.

    Returns
    -------
    list of DiffInterval
        One per metric, in order; ``low``/``high`` are NaN when every resample's
        metric is undefined.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-d and aligned, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must hold no NaN: align both on their common days first")
    if len(a) < 2:
        raise ValueError(f"need at least 2 common days, got {len(a)}")
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known are {sorted(METRICS)}")
    idx = stationary_indices(len(a), n_boot, block, np.random.default_rng(seed))
    ra, rb = a[idx], b[idx]
    tail = (1.0 - level) / 2.0 * 100.0
    out = []
    for name in metrics:
        fn = METRICS[name]
        value_a, value_b = float(fn(a)), float(fn(b))
        diffs = fn(rb) - fn(ra)
        diffs = diffs[np.isfinite(diffs)]
        low, high = (
            (float(np.percentile(diffs, tail)), float(np.percentile(diffs, 100.0 - tail)))
            if diffs.size
            else (np.nan, np.nan)
        )
        out.append(DiffInterval(name, value_a, value_b, value_b - value_a, low, high, n_boot))
    return out
