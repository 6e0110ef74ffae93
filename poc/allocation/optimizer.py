"""An optimizer-based allocation through skfolio (the only module importing skfolio here).

It shows how a field library plugs into the model contract of
:mod:`poc.allocation.models`: at each signal date a fresh
:class:`skfolio.optimization.HierarchicalRiskParity` is fitted on the trailing
``lookback`` daily returns ending at that date's close, and its weights go
through the same exact cap/minimum projection as every other model.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from poc.allocation.models import _AllocationModel, allocate_scores, check_window
from poc.allocation.schedule import rebalance_mask
from poc.allocation.schema import check_prices

logger = logging.getLogger(__name__)


class HRPAllocation(_AllocationModel):
    """Hierarchical risk parity (skfolio) refitted on a trailing window at each signal date.

    Parameters
    ----------
    lookback : int
        Trailing daily returns per fit (the window ends at the signal date's close).
    min_history : int, optional
        Fewest non-missing returns an asset needs in the window to take part
        (default: the whole window).
    max_weight, min_weight, invested, rebalance
        As in :class:`~poc.allocation.models.EMAAllocation`.

    Attributes
    ----------
    target_weights_ : DataFrame
        Signal dates x assets.
    n_fits_ : int
        Number of skfolio fits.

    Notes
    -----
    skfolio receives ``max_weights`` when the caps can hold the whole book, so
    its recursive bisection already respects them; the projection that follows
    is then the identity up to rounding and guarantees exactness either way.
    Assets with gaps in the window are left out of that date's fit (an asset
    with missing returns is not filled with zeros). Returns on a date are
    computed from consecutive closes, so the fit at ``d`` sees prices up to
    ``d`` only.
    """

    def __init__(
        self,
        lookback: int = 252,
        min_history: int | None = None,
        max_weight: float = 0.4,
        min_weight: float = 0.0,
        invested: float = 1.0,
        rebalance: str = "monthly",
    ):
        self.lookback = lookback
        self.min_history = min_history
        self.max_weight = max_weight
        self.min_weight = min_weight
        self.invested = invested
        self.rebalance = rebalance

    def fit(self, prices: pd.DataFrame, benchmark: pd.Series | None = None) -> HRPAllocation:
        """Fit HRP at each signal date on the trailing window (benchmark unused)."""
        from skfolio.optimization import HierarchicalRiskParity

        self._check_common()
        lookback = check_window("lookback", self.lookback, 20)
        need = (
            lookback if self.min_history is None else check_window("min_history", self.min_history)
        )
        prices = check_prices(prices)
        values = prices.to_numpy()
        returns = np.full(values.shape, np.nan)
        returns[1:] = values[1:] / values[:-1] - 1.0
        rows = {}
        fits = 0
        for t in np.flatnonzero(rebalance_mask(prices.index, self.rebalance)):
            if t < lookback:
                continue  # the first return is on date 1, so a full window ends at date >= lookback
            window = returns[t - lookback + 1 : t + 1]
            usable = np.flatnonzero(np.isfinite(window).sum(axis=0) >= need)
            raw = np.full(values.shape[1], np.nan)
            if usable.size == 1:
                raw[usable] = 1.0
            elif usable.size > 1:
                # Drop rows where a usable asset is missing (only when min_history < lookback).
                sample = window[:, usable]
                sample = sample[np.isfinite(sample).all(axis=1)]
                cap = self.max_weight if usable.size * self.max_weight >= 1.0 else 1.0
                model = HierarchicalRiskParity(max_weights=cap)
                model.fit(sample)
                fits += 1
                raw[usable] = model.weights_
            rows[t] = allocate_scores(raw, self.invested, self.max_weight, self.min_weight)
        self.n_fits_ = fits
        self.target_weights_ = self._targets_frame(prices, rows)
        logger.debug("HRPAllocation: %d fits over %d signal dates", fits, len(rows))
        return self
