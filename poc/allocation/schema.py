"""The shapes allocation code passes around, and ``check_*`` functions for them.

One canonical shape for every weights table (targets, actual weights):
a DataFrame indexed by a sorted, unique ``DatetimeIndex`` (one row per date),
one column per asset (tickers), values are long-only fractions of the NAV;
``1 - row sum`` is cash. Prices are the same shape with adjusted closes
(NaN before an asset's first price).

Each ``check_*`` takes raw input and returns the cleaned value or raises
:class:`~poc.allocation.errors.AllocationError` (a ``ValueError``) naming the
dates and assets at fault; a wrong type raises ``TypeError``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from poc.allocation.errors import AllocationError, WeightsHistoryError

logger = logging.getLogger(__name__)

_EXAMPLES = 5


def _check_frame(frame, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{what} must be a pandas DataFrame (dates x assets), got {type(frame).__name__}"
        )
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise AllocationError(
            f"{what} must be indexed by dates (a DatetimeIndex), got {type(frame.index).__name__}; "
            "set the date column as the index"
        )
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise AllocationError(
            f"{what} dates must be sorted and unique; sort_index() and drop duplicates"
        )
    if frame.columns.has_duplicates:
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise AllocationError(f"{what} has duplicate asset columns {dupes[:_EXAMPLES]}")
    try:
        return frame.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise AllocationError(f"{what} must hold numbers only: {exc}") from exc


def check_prices(prices) -> pd.DataFrame:
    """Validate a price panel (dates x assets of adjusted closes).

    NaN marks a date without a price (before listing, halted); zero, negative
    and infinite prices are refused.
    """
    frame = _check_frame(prices, "prices")
    if frame.shape[0] < 2 or frame.shape[1] < 1:
        raise AllocationError(f"prices need at least 2 dates and 1 asset, got shape {frame.shape}")
    values = frame.to_numpy()
    bad = np.isinf(values) | (values <= 0)
    if bad.any():
        rows, cols = np.nonzero(bad)
        examples = [
            f"{frame.index[r].date()} {frame.columns[c]}={values[r, c]}"
            for r, c in zip(rows, cols, strict=True)
        ]
        raise AllocationError(
            f"prices must be positive and finite; {bad.sum()} bad value(s), e.g. "
            f"{', '.join(examples[:_EXAMPLES])}. Use NaN for a missing price"
        )
    return frame


def check_benchmark(benchmark, index: pd.DatetimeIndex) -> pd.Series:
    """Align benchmark returns to ``index`` (the price dates); missing dates become NaN, counted."""
    if not isinstance(benchmark, pd.Series):
        raise TypeError(
            f"benchmark must be a pandas Series of returns, got {type(benchmark).__name__}"
        )
    if not isinstance(benchmark.index, pd.DatetimeIndex):
        raise AllocationError("benchmark returns must be indexed by dates (a DatetimeIndex)")
    if benchmark.index.has_duplicates:
        raise AllocationError("benchmark returns have duplicate dates; drop duplicates first")
    aligned = benchmark.astype(np.float64).reindex(index)
    if len(index) and not aligned.notna().any():
        raise AllocationError(
            f"benchmark returns share no date with the prices ({len(benchmark)} benchmark dates, "
            f"prices {index[0].date()}..{index[-1].date()}); pass the benchmark of the same period"
        )
    missing = int(aligned.iloc[1:].isna().sum())
    if missing:
        logger.info(
            "benchmark has no return on %d of %d price dates after the first",
            missing,
            len(index) - 1,
        )
    return aligned.rename("benchmark")


def check_target_weights(targets, assets: pd.Index, tol: float = 1e-9) -> pd.DataFrame:
    """Validate target weights (signal dates x assets) against the price columns.

    NaN means "no position" and becomes 0. Missing asset columns are added as 0;
    an unknown asset, a negative weight or a row summing above 1 is refused.
    """
    frame = _check_frame(targets, "target weights")
    unknown = [c for c in frame.columns if c not in assets]
    if unknown:
        raise AllocationError(
            f"target weights name assets without prices: {unknown[:_EXAMPLES]}; "
            "use the price panel's columns"
        )
    frame = frame.reindex(columns=assets).fillna(0.0)
    values = frame.to_numpy()
    if np.isinf(values).any():
        raise AllocationError("target weights contain infinite values")
    _raise_problems(
        "target weights", _row_problems(frame, None, None, tol), "fix the model's output"
    )
    return frame


def _caps_vector(limit, columns: pd.Index, what: str) -> np.ndarray | None:
    if limit is None:
        return None
    if not isinstance(limit, Mapping | pd.Series):
        return np.full(len(columns), float(limit))
    caps = pd.Series(limit, dtype=np.float64)
    missing = [c for c in columns if c not in caps.index]
    if missing:
        raise AllocationError(f"{what} has no value for assets {missing[:_EXAMPLES]}")
    return caps.reindex(columns).to_numpy()


def _row_problems(frame: pd.DataFrame, max_weight, min_weight, tol: float) -> list[str]:
    values = frame.to_numpy()
    dates = frame.index
    cols = frame.columns
    problems: list[str] = []

    def cells(mask: np.ndarray, text) -> None:
        for r, c in zip(*np.nonzero(mask), strict=True):
            problems.append(f"{dates[r].date()} {cols[c]}: {text(r, c)}")

    cells(~np.isfinite(values), lambda r, c: f"weight {values[r, c]} is not finite")
    finite = np.where(np.isfinite(values), values, 0.0)
    cells(finite < -tol, lambda r, c: f"weight {values[r, c]:.12g} < 0 (long-only)")
    caps = _caps_vector(max_weight, cols, "max_weight")
    if caps is not None:
        cells(
            finite > caps[None, :] + tol,
            lambda r, c: f"weight {values[r, c]:.12g} > max_weight {caps[c]:g} (+tol {tol:g})",
        )
    if min_weight is not None and min_weight > 0:
        cells(
            (finite > tol) & (finite < min_weight - tol),
            lambda r, c: (
                f"weight {values[r, c]:.12g} is positive but below min_weight {min_weight:g}"
            ),
        )
    sums = finite.sum(axis=1)
    for r in np.flatnonzero(sums > 1.0 + tol):
        problems.append(f"{dates[r].date()} (all assets): invested fraction {sums[r]:.12g} > 1")
    return problems


def _raise_problems(what: str, problems: list[str], fix: str) -> None:
    if not problems:
        return
    lines = "\n".join(f"  - {p}" for p in problems[:_EXAMPLES])
    more = f"\n  ... and {len(problems) - _EXAMPLES} more" if len(problems) > _EXAMPLES else ""
    raise WeightsHistoryError(
        f"{what}: {len(problems)} breach(es) of the weight rules:\n{lines}{more}\n{fix}"
    )


def check_weights_history(
    weights, max_weight=None, min_weight=None, tol: float = 1e-9
) -> pd.DataFrame:
    """Check a weights table (dates x assets): finite, long-only, invested <= 1, caps held.

    Parameters
    ----------
    weights : DataFrame
        Dates x assets, e.g. ``ExecutionResult.weights_history``.
    max_weight : float or mapping of asset to float, optional
        Cap per asset; not checked when None.
    min_weight : float, optional
        No weight may be positive (above ``tol``) but below ``min_weight - tol``.
    tol : float, default 1e-9
        Absolute tolerance for every comparison.

    Returns
    -------
    DataFrame
        ``weights`` as float64, unchanged.

    Raises
    ------
    WeightsHistoryError
        Listing each breach as ``<date> <asset>: <what>`` (first few, and a count).
    """
    frame = _check_frame(weights, "weights history")
    _raise_problems(
        "weights history",
        _row_problems(frame, max_weight, min_weight, tol),
        "the execution or the model broke a weight rule; inspect those dates",
    )
    return frame
