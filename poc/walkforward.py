"""Walk-forward selection over a grid: choose on a trailing window, trade the next one, roll.

Input is a return matrix (dates x candidate cells, e.g. the overlay variants
of a strategy, or every cell of a grid over chosen axes). For each test window
``[s, s + test_days)`` the cell with the best Sharpe ratio over the trailing
``train_days`` before ``s`` (returns ``s - train_days .. s - 1``, nothing from
``s`` on) is chosen and its returns over the test window are kept; the test
windows tile the data after the first training window, and their kept returns
stitch into one out-of-sample stream.

The decision for a window starting at ``s`` therefore uses only returns dated
before ``s`` (tests/property/test_walkforward_lookahead.py changes every return
from day ``d`` on and checks that no decision at or before ``d`` changes).

Compared figures (docs/overlays.md):

* ``oos_sharpe``: Sharpe of the stitched out-of-sample stream;
* ``is_best_sharpe``: the best Sharpe of any single cell over the same days
  (chosen with hindsight, i.e. in sample); their gap is the price of not knowing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from poc import metrics
from poc.exceptions import ConfigError

PERIODS_PER_YEAR = 252


@dataclass(frozen=True)
class WalkForwardResult:
    """Windows, choices and the stitched out-of-sample stream of a walk-forward run."""

    windows: pd.DataFrame  # one row per test window (see walk_forward)
    oos_returns: pd.Series  # stitched returns of the chosen cells over the test windows
    oos_sharpe: float
    is_best_sharpe: float
    is_best_cell: str | None
    train_days: int
    test_days: int

    @property
    def sharpe_ratio_to_best(self) -> float:
        """OOS Sharpe / in-sample best Sharpe (NaN when the best is not positive)."""
        if not np.isfinite(self.is_best_sharpe) or self.is_best_sharpe <= 0:
            return float("nan")
        return float(self.oos_sharpe / self.is_best_sharpe)

    def metrics(self) -> dict[str, float]:
        """The figures logged to MLflow."""
        changes = self.windows["cell"].ne(self.windows["cell"].shift()).iloc[1:].sum()
        return {
            "wf_oos_sharpe": self.oos_sharpe,
            "wf_is_best_sharpe": self.is_best_sharpe,
            "wf_ratio_to_best": self.sharpe_ratio_to_best,
            "wf_oos_ann_ret": metrics.annual_return(self.oos_returns),
            "wf_oos_max_dd": metrics.max_drawdown(self.oos_returns),
            "wf_windows": float(len(self.windows)),
            "wf_choice_changes": float(changes),
            "wf_mean_train_sharpe": float(self.windows["train_sharpe"].mean()),
        }


def window_sharpes(matrix: np.ndarray) -> np.ndarray:
    """Annualized Sharpe of every column of a (days x cells) block, NaN-aware.

    NaN where a column has fewer than 2 observations or no dispersion.
    """
    counts = np.isfinite(matrix).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(matrix, axis=0) / counts
        centered = matrix - mean
        var = np.nansum(centered * centered, axis=0) / (counts - 1)
        std = np.sqrt(var)
        sharpe = mean / std * np.sqrt(PERIODS_PER_YEAR)
    return np.where((counts >= 2) & (std > 1e-15), sharpe, np.nan)


def _check(returns: pd.DataFrame, train_days: int, test_days: int) -> None:
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(f"returns must be a DataFrame (dates x cells), got {type(returns)}")
    if returns.shape[1] == 0:
        raise ConfigError("walk-forward needs at least one cell (column) to choose from")
    if train_days < 2 or test_days < 1:
        raise ConfigError(
            f"walk-forward windows: train_days must be >= 2 and test_days >= 1, got "
            f"{train_days} and {test_days}"
        )
    if len(returns) < train_days + test_days:
        raise ConfigError(
            f"walk-forward needs at least train_days + test_days = {train_days + test_days} "
            f"days, got {len(returns)}; shorten walk_forward.train_years / test_years"
        )


def walk_forward(
    returns: pd.DataFrame,
    train_days: int = 3 * PERIODS_PER_YEAR,
    test_days: int = PERIODS_PER_YEAR,
    params: dict[str, dict[str, Any]] | None = None,
) -> WalkForwardResult:
    """Choose the best-Sharpe cell on each trailing window and trade it over the next.

    Parameters
    ----------
    returns : DataFrame
        Daily returns, dates (sorted) x cells; NaN = no observation.
    train_days, test_days : int
        Trading days in the trailing selection window and in each traded window
        (defaults 3 years and 1 year). The last test window may be shorter.
    params : dict, optional
        Cell name -> its parameters; the windows table then has one column per
        parameter (the chosen value), for the stability chart.

    Returns
    -------
    WalkForwardResult
        ``windows`` has ``train_start, train_end, test_start, test_end, cell,
        train_sharpe, test_sharpe`` (+ parameters). A window where no cell has
        a finite training Sharpe holds no position (NaN returns, ``cell`` None).
    """
    _check(returns, train_days, test_days)
    values = returns.to_numpy(dtype=np.float64)
    names = list(map(str, returns.columns))
    dates = returns.index
    n = len(values)
    oos = np.full(n, np.nan)
    rows = []
    for start in range(train_days, n, test_days):
        stop = min(start + test_days, n)
        # The decision for [start, stop) reads only rows start - train_days .. start - 1.
        scores = window_sharpes(values[start - train_days : start])
        chosen = int(np.nanargmax(scores)) if np.isfinite(scores).any() else None
        if chosen is not None:
            oos[start:stop] = values[start:stop, chosen]
        traded = values[start:stop, chosen] if chosen is not None else np.array([])
        row = {
            "train_start": dates[start - train_days],
            "train_end": dates[start - 1],
            "test_start": dates[start],
            "test_end": dates[stop - 1],
            "cell": names[chosen] if chosen is not None else None,
            "train_sharpe": float(scores[chosen]) if chosen is not None else np.nan,
            "test_sharpe": metrics.sharpe_ratio(traded),
        }
        for key, value in ((params or {}).get(row["cell"]) or {}).items():
            row[key] = value
        rows.append(row)
    windows = pd.DataFrame(rows)
    stitched = pd.Series(oos[train_days:], index=dates[train_days:], name="walk_forward")
    # Hindsight benchmark: the best cell over the same days the stitched stream covers.
    full = window_sharpes(values[train_days:])
    best = int(np.nanargmax(full)) if np.isfinite(full).any() else None
    return WalkForwardResult(
        windows=windows,
        oos_returns=stitched,
        oos_sharpe=metrics.sharpe_ratio(stitched),
        is_best_sharpe=float(full[best]) if best is not None else np.nan,
        is_best_cell=names[best] if best is not None else None,
        train_days=train_days,
        test_days=test_days,
    )
