"""Allocation models: scikit-learn style estimators that output target weights.

Every model follows one contract:

* ``__init__`` stores parameters only (validated in ``fit``);
* ``fit(prices, benchmark=None)`` learns and returns ``self``;
* ``target_weights_`` is a DataFrame (signal dates x assets) of long-only
  target weights; the row dated ``d`` uses prices (and benchmark returns) up to
  the close of ``d`` only. Dates in the warm-up of the model's windows have no
  row; a row of zeros means "all cash".

Weights always come out of :func:`allocate_scores`: scores are scaled to the
invested fraction and projected exactly onto the capped simplex
(:func:`~poc.allocation.projection.project_capped_simplex`), so every row sums
to its invested fraction and every cap and minimum holds exactly. When fewer
assets qualify than the caps need to hold the invested fraction, each gets its
cap and the rest stays in cash (rather than breaking the cap).

The skfolio-based model lives in :mod:`poc.allocation.optimizer`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from poc.allocation.errors import AllocationError
from poc.allocation.projection import project_capped_simplex
from poc.allocation.regime import (
    REGIMES,
    WARMUP,
    RegimeRules,
    classify_regimes,
    realized_volatility,
)
from poc.allocation.schedule import check_rebalance, rebalance_mask
from poc.allocation.schema import check_benchmark, check_prices
from poc.allocation.sleeves import DEFAULT_COMPATIBILITY, asset_compatibility


def check_weight_rules(max_weight: float, min_weight: float, totals) -> None:
    """Refuse caps and minimums that no allocation of ``totals`` can meet.

    Investing ``t`` under a cap ``u`` takes at least ``k = ceil(t / u)`` assets,
    and ``k`` positive weights of at least ``min_weight`` need ``k x min <= t``.
    """
    if not (isinstance(max_weight, int | float) and 0 < max_weight <= 1):
        raise AllocationError(f"max_weight must be in (0, 1], got {max_weight!r}")
    if not (isinstance(min_weight, int | float) and 0 <= min_weight <= max_weight):
        raise AllocationError(
            f"min_weight must be in [0, max_weight={max_weight}], got {min_weight!r}"
        )
    for total in totals:
        if total <= 0:
            continue
        k = math.ceil(total / max_weight - 1e-12)
        if k * min_weight > total + 1e-12:
            raise AllocationError(
                f"min_weight {min_weight:g} cannot hold with max_weight {max_weight:g}: investing "
                f"{total:g} needs at least {k} assets and {k} x {min_weight:g} > {total:g}. "
                f"Lower min_weight to at most {total / k:.6g} or raise max_weight"
            )


def check_fraction(name: str, value, low_open: bool = True) -> float:
    """Return ``value`` as a float in (0, 1] (or [0, 1] when ``low_open`` is False), else raise."""
    ok = isinstance(value, int | float) and math.isfinite(value) and value <= 1
    ok = ok and (value > 0 if low_open else value >= 0)
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise AllocationError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_window(name: str, value, minimum: int = 2) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise AllocationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def allocate_scores(
    scores: np.ndarray, invested: float, max_weight: float, min_weight: float
) -> np.ndarray:
    """Turn non-negative scores into capped weights summing to the invested fraction.

    Parameters
    ----------
    scores : numpy.ndarray
        One score per asset; only finite, strictly positive scores qualify.
    invested : float
        Fraction of the NAV to invest.
    max_weight, min_weight : float
        Cap and minimum per asset (see :func:`project_capped_simplex`).

    Returns
    -------
    numpy.ndarray
        Weights proportional to the scores when no rule binds, otherwise the
        closest weights (Euclidean) that obey the rules. The invested total is
        ``min(invested, n_qualifying x max_weight)``.
    """
    s = np.asarray(scores, dtype=np.float64)
    qualify = np.isfinite(s) & (s > 0)
    n = int(qualify.sum())
    if n == 0 or invested <= 0:
        return np.zeros(s.size)
    total = min(invested, n * max_weight)
    proportional = np.where(qualify, s / s[qualify].sum() * total, np.nan)
    return project_capped_simplex(proportional, total, max_weight, min_weight)


class _AllocationModel(BaseEstimator):
    """Shared parameter checks and the target-weights frame builder."""

    def _check_common(self) -> None:
        check_rebalance(self.rebalance)
        check_fraction("invested", self.invested)
        check_weight_rules(self.max_weight, self.min_weight, [self.invested])

    def _targets_frame(self, prices: pd.DataFrame, rows: dict[int, np.ndarray]) -> pd.DataFrame:
        positions = sorted(rows)
        values = (
            np.vstack([rows[p] for p in positions]) if positions else np.zeros((0, prices.shape[1]))
        )
        frame = pd.DataFrame(values, index=prices.index[positions], columns=prices.columns)
        frame.index.name = "date"
        return frame


class EMAAllocation(_AllocationModel):
    """Trend-following allocation ranked by EMA metrics.

    Score of an asset at date ``d`` = mean of two trend measures, both unitless:
    the fast/slow EMA spread ``ema_fast / ema_slow - 1`` and the price's distance
    to the slow EMA ``price / ema_slow - 1`` (EMAs with ``adjust=False``, valid
    after ``slow_span`` prices). The ``top_k`` best-scored assets (with a
    positive score when ``require_positive``) get equal weights
    (``weighting="equal"``) or weights proportional to their scores
    (``"score"``; non-positive scores get nothing), then the caps and minimum
    are applied exactly.

    Parameters
    ----------
    fast_span, slow_span : int
        EMA spans in trading days (``fast_span < slow_span``).
    top_k : int
        Number of assets held at most.
    weighting : {"equal", "score"}
    require_positive : bool
        Hold only assets in an up-trend (score > 0); otherwise cash.
    max_weight, min_weight : float
        Cap and minimum per asset.
    invested : float
        Fraction of the NAV to invest.
    rebalance : {"daily", "weekly", "monthly"}
        Signal dates.

    Attributes
    ----------
    scores_ : DataFrame
        The trend score of every asset on every date.
    target_weights_ : DataFrame
        Signal dates x assets.
    """

    def __init__(
        self,
        fast_span: int = 20,
        slow_span: int = 100,
        top_k: int = 5,
        weighting: str = "equal",
        require_positive: bool = True,
        max_weight: float = 0.4,
        min_weight: float = 0.0,
        invested: float = 1.0,
        rebalance: str = "monthly",
    ):
        self.fast_span = fast_span
        self.slow_span = slow_span
        self.top_k = top_k
        self.weighting = weighting
        self.require_positive = require_positive
        self.max_weight = max_weight
        self.min_weight = min_weight
        self.invested = invested
        self.rebalance = rebalance

    def _check_params(self) -> None:
        self._check_common()
        check_window("fast_span", self.fast_span, 1)
        check_window("slow_span", self.slow_span)
        if self.fast_span >= self.slow_span:
            raise AllocationError(
                f"fast_span ({self.fast_span}) must be shorter than slow_span ({self.slow_span})"
            )
        check_window("top_k", self.top_k, 1)
        if self.weighting not in ("equal", "score"):
            raise AllocationError(f"weighting must be 'equal' or 'score', got {self.weighting!r}")

    def fit(self, prices: pd.DataFrame, benchmark: pd.Series | None = None) -> EMAAllocation:
        """Compute trend scores and target weights on each signal date (benchmark unused)."""
        self._check_params()
        prices = check_prices(prices)
        slow = prices.ewm(span=self.slow_span, adjust=False, min_periods=self.slow_span).mean()
        fast = prices.ewm(span=self.fast_span, adjust=False, min_periods=self.slow_span).mean()
        self.scores_ = ((fast / slow - 1.0) + (prices / slow - 1.0)) / 2.0
        scores = self.scores_.to_numpy()
        valid = np.isfinite(scores).any(axis=1)
        rows = {}
        for t in np.flatnonzero(rebalance_mask(prices.index, self.rebalance) & valid):
            rows[t] = self._allocate(scores[t])
        self.target_weights_ = self._targets_frame(prices, rows)
        return self

    def _allocate(self, score: np.ndarray) -> np.ndarray:
        usable = np.isfinite(score) & ((score > 0) if self.require_positive else True)
        candidates = np.flatnonzero(usable)
        # Highest scores first; a stable sort breaks ties by column order.
        chosen = candidates[np.argsort(-score[candidates], kind="stable")[: self.top_k]]
        raw = np.full(score.size, np.nan)
        # "score": weights follow the (positive) scores; a chosen asset with a
        # non-positive score gets nothing (only with require_positive=False).
        raw[chosen] = 1.0 if self.weighting == "equal" else score[chosen]
        return allocate_scores(raw, self.invested, self.max_weight, self.min_weight)


class RegimeRotation(_AllocationModel):
    """Rotation across assets by desirability = asset score x regime compatibility.

    Sleeves are the individual assets: that keeps the cap and minimum checkable
    on the weights that are actually traded (a sector sleeve split among its
    members would put positive weights below the minimum). The compatibility of
    an asset in a regime comes from a matrix indexed by regime, whose columns
    are assets or sectors; a sector column applies to every asset of that
    sector (``sectors`` maps asset -> sector). The default matrix
    (:data:`poc.allocation.sleeves.DEFAULT_COMPATIBILITY`) is given per GICS
    sector and adapted from the old rotation engine's profile matrix.

    At each signal date ``d``:

    1. regime = :func:`~poc.allocation.regime.classify_regimes` of the benchmark at ``d``;
    2. asset score = cross-sectional percentile rank in ``(0, 1]`` of the
       trailing ``momentum_window``-day price return;
    3. desirability = score x compatibility[regime, asset];
    4. invested fraction = ``invested``, times ``vol_scale`` when the benchmark's
       realized ``vol_window``-day volatility (annualized) exceeds ``vol_threshold``;
    5. weights = :func:`allocate_scores` (proportional, then exact caps and minimum).

    Parameters
    ----------
    compatibility : DataFrame or mapping, optional
        Regime x (asset or sector) compatibility in ``[0, inf)``; rows must
        cover the five regimes. Defaults to the sector matrix.
    sectors : mapping of str to str, optional
        Asset -> sector, needed when the matrix is per sector.
    momentum_window : int
    vol_threshold : float
        Annualized benchmark volatility above which exposure is scaled.
    vol_scale : float
        Exposure multiplier in high volatility, in [0, 1].
    vol_window : int
    rules : RegimeRules, optional
    max_weight, min_weight, invested, rebalance
        As in :class:`EMAAllocation`.

    Attributes
    ----------
    regimes_ : Series
        Regime per date.
    exposure_ : Series
        Invested fraction per date after volatility scaling.
    compatibility_ : DataFrame
        Regime x asset compatibility actually used.
    scores_ : DataFrame
        Asset scores per date.
    target_weights_ : DataFrame
    """

    def __init__(
        self,
        compatibility: pd.DataFrame | Mapping | None = None,
        sectors: Mapping[str, str] | None = None,
        momentum_window: int = 126,
        vol_threshold: float = 0.30,
        vol_scale: float = 0.5,
        vol_window: int = 20,
        rules: RegimeRules | None = None,
        max_weight: float = 0.4,
        min_weight: float = 0.05,
        invested: float = 1.0,
        rebalance: str = "monthly",
    ):
        self.compatibility = compatibility
        self.sectors = sectors
        self.momentum_window = momentum_window
        self.vol_threshold = vol_threshold
        self.vol_scale = vol_scale
        self.vol_window = vol_window
        self.rules = rules
        self.max_weight = max_weight
        self.min_weight = min_weight
        self.invested = invested
        self.rebalance = rebalance

    def _check_params(self) -> None:
        self._check_common()
        check_window("momentum_window", self.momentum_window, 1)
        check_window("vol_window", self.vol_window)
        check_fraction("vol_scale", self.vol_scale, low_open=False)
        if not (isinstance(self.vol_threshold, int | float) and self.vol_threshold > 0):
            raise AllocationError(
                f"vol_threshold must be a positive annualized volatility (e.g. 0.30), "
                f"got {self.vol_threshold!r}"
            )
        check_weight_rules(self.max_weight, self.min_weight, [self.invested * self.vol_scale])

    def fit(self, prices: pd.DataFrame, benchmark: pd.Series | None = None) -> RegimeRotation:
        """Classify regimes and compute target weights on each signal date."""
        self._check_params()
        prices = check_prices(prices)
        if benchmark is None:
            raise AllocationError("RegimeRotation needs benchmark returns: fit(prices, benchmark)")
        bench = check_benchmark(benchmark, prices.index)
        matrix = DEFAULT_COMPATIBILITY if self.compatibility is None else self.compatibility
        self.compatibility_ = asset_compatibility(matrix, prices.columns, self.sectors)
        self.regimes_ = classify_regimes(bench, self.rules)
        vol = realized_volatility(bench, self.vol_window)
        self.exposure_ = pd.Series(
            np.where(vol > self.vol_threshold, self.invested * self.vol_scale, self.invested),
            index=prices.index,
            name="exposure",
        ).where(vol.notna())
        momentum = prices / prices.shift(self.momentum_window) - 1.0
        self.scores_ = momentum.rank(axis=1, pct=True)
        scores = self.scores_.to_numpy()
        regime = self.regimes_.to_numpy()
        exposure = self.exposure_.to_numpy()
        compat = {r: self.compatibility_.loc[r].to_numpy() for r in REGIMES}
        valid = (regime != WARMUP) & np.isfinite(exposure) & np.isfinite(scores).any(axis=1)
        rows = {}
        for t in np.flatnonzero(rebalance_mask(prices.index, self.rebalance) & valid):
            desirability = scores[t] * compat[regime[t]]
            rows[t] = allocate_scores(desirability, exposure[t], self.max_weight, self.min_weight)
        self.target_weights_ = self._targets_frame(prices, rows)
        return self
