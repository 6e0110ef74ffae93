"""One allocation backtest as a pure function: config in, plain results out.

:func:`run_allocation` is what a suite cell calls: it fits the configured
model, executes its targets, checks the allocation history against the caps
(failing loudly, never silently) and computes the analytics. Nothing here
touches MLflow or the file system.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from poc.allocation import analytics
from poc.allocation.errors import AllocationError
from poc.allocation.execution import ExecutionResult, simulate_execution
from poc.allocation.feasibility import check_feasible
from poc.allocation.models import (
    EMAAllocation,
    RegimeRotation,
    check_fraction,
    check_weight_rules,
    check_window,
)
from poc.allocation.optimizer import HRPAllocation
from poc.allocation.regime import classify_regimes
from poc.allocation.schedule import check_rebalance
from poc.allocation.schema import check_benchmark, check_prices, check_weights_history

logger = logging.getLogger(__name__)

ModelName = Literal["ema", "regime", "hrp"]
MODELS = ("ema", "regime", "hrp")


@dataclass(frozen=True)
class AllocationConfig:
    """Every parameter of one allocation backtest (flat scalars, ready to log as params).

    Parameters
    ----------
    model : {"ema", "regime", "hrp"}
        :class:`~poc.allocation.models.EMAAllocation`,
        :class:`~poc.allocation.models.RegimeRotation` or
        :class:`~poc.allocation.optimizer.HRPAllocation` (skfolio).
    max_weight, min_weight : float
        Cap per asset, and the smallest positive weight allowed.
    invested : float
        Target invested fraction (before the regime model's volatility scaling).
    rebalance : {"daily", "weekly", "monthly"}
        Signal dates of the model and rebalance dates of the execution.
    delay : int
        Extra trading days before a target is traded (0 = the next close).
    commission_bps, slippage_bps : float
        Costs per side, in basis points of traded value, kept separate: the fill
        price moves by the slippage, the commission is charged on the fill. A
        single all-in rate ``c`` is ``commission_bps=c, slippage_bps=0``.
    no_trade_band : float
        Weight band inside which an asset is not traded (0 = trade to target).
    initial_cash : float
    top_k, weighting, fast_span, slow_span
        EMA model only.
    momentum_window, vol_threshold, vol_scale
        Regime model only: exposure is ``invested x vol_scale`` when the
        benchmark's 20-day realized volatility (annualized) exceeds ``vol_threshold``.
    lookback
        HRP model only: trailing days of returns per fit.
    """

    model: ModelName = "ema"
    max_weight: float = 0.4
    min_weight: float = 0.0
    invested: float = 1.0
    rebalance: Literal["daily", "weekly", "monthly"] = "monthly"
    delay: int = 0
    commission_bps: float = 1.0
    slippage_bps: float = 4.0
    no_trade_band: float = 0.0
    initial_cash: float = 1_000_000.0
    top_k: int = 5
    weighting: Literal["equal", "score"] = "equal"
    fast_span: int = 20
    slow_span: int = 100
    momentum_window: int = 126
    vol_threshold: float = 0.30
    vol_scale: float = 0.5
    lookback: int = 252

    def __post_init__(self):
        if self.model not in MODELS:
            raise AllocationError(f"model must be one of {MODELS}, got {self.model!r}")
        check_rebalance(self.rebalance)
        check_fraction("invested", self.invested)
        check_fraction("vol_scale", self.vol_scale, low_open=False)
        # The regime model also invests invested x vol_scale in volatile markets.
        totals = [self.invested] + (
            [self.invested * self.vol_scale] if self.model == "regime" else []
        )
        check_weight_rules(self.max_weight, self.min_weight, totals)
        check_window("delay", self.delay, 0)
        check_window("top_k", self.top_k, 1)
        check_window("fast_span", self.fast_span, 1)
        check_window("slow_span", self.slow_span)
        check_window("momentum_window", self.momentum_window, 1)
        check_window("lookback", self.lookback, 20)
        for name in ("commission_bps", "slippage_bps"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value < 1000):
                raise AllocationError(f"{name} must be in [0, 1000) basis points, got {value!r}")
        if not (isinstance(self.no_trade_band, int | float) and 0 <= self.no_trade_band < 1):
            raise AllocationError(f"no_trade_band must be in [0, 1), got {self.no_trade_band!r}")
        if not (isinstance(self.vol_threshold, int | float) and self.vol_threshold > 0):
            raise AllocationError(f"vol_threshold must be > 0, got {self.vol_threshold!r}")
        cash = self.initial_cash
        if not (isinstance(cash, int | float) and math.isfinite(cash) and cash > 0):
            raise AllocationError(f"initial_cash must be a positive number, got {cash!r}")
        if self.model == "ema":
            self._check_ema()

    def _check_ema(self) -> None:
        if self.fast_span >= self.slow_span:
            raise AllocationError(
                f"fast_span ({self.fast_span}) must be shorter than slow_span ({self.slow_span})"
            )
        if self.weighting not in ("equal", "score"):
            raise AllocationError(f"weighting must be 'equal' or 'score', got {self.weighting!r}")
        # Whether top_k x max_weight can hold `invested` depends on the universe's size
        # (top_k above the asset count buys nothing): see poc.allocation.feasibility,
        # checked by run_allocation and, for a whole grid, before any cell runs.

    def to_params(self) -> dict[str, Any]:
        """The config as a flat dict (for MLflow params or a JSON file)."""
        return asdict(self)


@dataclass(frozen=True)
class AllocationResult:
    """Everything one allocation backtest produced, as plain pandas objects.

    Attributes
    ----------
    config : AllocationConfig
    targets : DataFrame
        The model's target weights (signal dates x assets).
    execution : ExecutionResult
        Signal and weights history, trades, NAV, cash, positions, costs.
    regimes : Series
        Benchmark regime per date (for every model, for attribution).
    returns, benchmark : Series
        Daily net returns and benchmark returns from the first execution date.
    metrics : dict
        :func:`~poc.allocation.analytics.benchmark_metrics` over that window.
    weights : DataFrame
        Daily end-of-day weights (drifting between trades).
    exposure : DataFrame
        Daily invested fraction, cash fraction, number of holdings.
    contributions : DataFrame
        Daily contribution per asset plus ``costs``; rows sum to ``returns``.
    attribution_by_asset, attribution_by_sector, attribution_by_regime : DataFrame
        Summed contributions (by sector only when sectors were given).
    rotation : dict
        :func:`~poc.allocation.analytics.rotation_frequency`.
    regime_distribution : DataFrame
        Days per regime over the analysed window.
    """

    config: AllocationConfig
    targets: pd.DataFrame
    execution: ExecutionResult
    regimes: pd.Series
    returns: pd.Series
    benchmark: pd.Series
    metrics: dict[str, float]
    weights: pd.DataFrame
    exposure: pd.DataFrame
    contributions: pd.DataFrame
    attribution_by_asset: pd.DataFrame
    attribution_by_regime: pd.DataFrame
    rotation: dict[str, float]
    regime_distribution: pd.DataFrame
    attribution_by_sector: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def build_model(
    config: AllocationConfig,
    sectors: Mapping[str, str] | None = None,
    compatibility: pd.DataFrame | Mapping | None = None,
):
    """The unfitted estimator that ``config`` describes."""
    common = dict(
        max_weight=config.max_weight,
        min_weight=config.min_weight,
        invested=config.invested,
        rebalance=config.rebalance,
    )
    if config.model == "ema":
        return EMAAllocation(
            fast_span=config.fast_span,
            slow_span=config.slow_span,
            top_k=config.top_k,
            weighting=config.weighting,
            **common,
        )
    if config.model == "regime":
        return RegimeRotation(
            compatibility=compatibility,
            sectors=sectors,
            momentum_window=config.momentum_window,
            vol_threshold=config.vol_threshold,
            vol_scale=config.vol_scale,
            **common,
        )
    return HRPAllocation(lookback=config.lookback, **common)


# Fields that change how targets are executed but not the targets themselves.
EXECUTION_ONLY = ("delay", "commission_bps", "slippage_bps", "no_trade_band", "initial_cash")


def model_key(config: AllocationConfig) -> tuple:
    """The config fields that determine the model's targets (execution settings left out).

    Cells with the same key can share one fitted model.
    """
    return tuple((k, v) for k, v in asdict(config).items() if k not in EXECUTION_ONLY)


def fit_model(
    prices: pd.DataFrame,
    benchmark: pd.Series,
    config: AllocationConfig,
    *,
    sectors: Mapping[str, str] | None = None,
    compatibility: pd.DataFrame | Mapping | None = None,
):
    """Build and fit the model ``config`` describes (targets depend on no execution setting)."""
    prices = check_prices(prices)
    bench = check_benchmark(benchmark, prices.index)
    return build_model(config, sectors, compatibility).fit(prices, bench)


def run_allocation(
    prices: pd.DataFrame,
    benchmark: pd.Series,
    config: AllocationConfig,
    *,
    sectors: Mapping[str, str] | None = None,
    compatibility: pd.DataFrame | Mapping | None = None,
    fitted=None,
) -> AllocationResult:
    """Fit, execute, check and analyse one allocation.

    Parameters
    ----------
    prices : DataFrame
        Dates x assets of adjusted closes (see :func:`~poc.allocation.inputs.allocation_inputs`).
    benchmark : Series
        Benchmark daily returns (aligned to the price dates here).
    config : AllocationConfig
    sectors : mapping of asset to sector, optional
        Needed by the regime model's default compatibility matrix, and used for
        the sector attribution (see :func:`~poc.allocation.inputs.allocation_sectors`).
    compatibility : DataFrame or mapping, optional
        Regime x (asset or sector) matrix for the regime model.
    fitted : estimator, optional
        A model already fitted by :func:`fit_model` for a config with the same
        :func:`model_key` (e.g. another cell differing only in costs or delay).

    Returns
    -------
    AllocationResult

    Raises
    ------
    AllocationError
        On bad inputs, or when the executed weights break the caps (a bug, made loud).
    """
    if not isinstance(config, AllocationConfig):
        raise TypeError(f"config must be an AllocationConfig, got {type(config).__name__}")
    prices = check_prices(prices)
    bench = check_benchmark(benchmark, prices.index)
    check_feasible(config, prices.shape[1])
    model = fitted
    if model is None:
        model = build_model(config, sectors, compatibility).fit(prices, bench)
    execution = simulate_execution(
        prices,
        model.target_weights_,
        rebalance=config.rebalance,
        delay=config.delay,
        commission_bps=config.commission_bps,
        slippage_bps=config.slippage_bps,
        no_trade_band=config.no_trade_band,
        initial_cash=config.initial_cash,
        max_weight=config.max_weight,
        min_weight=config.min_weight,
    )
    check_weights_history(execution.weights_history, config.max_weight, config.min_weight)
    regimes = model.regimes_ if config.model == "regime" else classify_regimes(bench)
    return _analyse(config, model.target_weights_, execution, regimes, bench, sectors)


def _analyse(config, targets, execution, regimes, bench, sectors) -> AllocationResult:
    start = analytics.first_trade_date(execution)
    notes = []
    if start is None:
        notes.append("no target was ever executed (warm-up longer than the data?)")
        logger.warning("allocation %s: %s", config.model, notes[-1])
    returns = analytics.net_returns(execution, start)
    window = returns.index
    bench_window = bench.reindex(window)
    contributions = analytics.daily_contributions(execution).reindex(window)
    return AllocationResult(
        config=config,
        targets=targets,
        execution=execution,
        regimes=regimes,
        returns=returns,
        benchmark=bench_window,
        metrics=analytics.benchmark_metrics(
            returns, bench_window, execution.turnover.reindex(window)
        ),
        weights=analytics.daily_weights(execution),
        exposure=analytics.exposure(execution),
        contributions=contributions,
        attribution_by_asset=analytics.attribution_by_asset(contributions),
        attribution_by_sector=analytics.attribution_by_asset(contributions, sectors)
        if sectors
        else None,
        attribution_by_regime=analytics.attribution_by_regime(returns, regimes),
        rotation=analytics.rotation_frequency(execution),
        regime_distribution=analytics.regime_distribution(regimes.reindex(window)),
        notes=notes,
    )
