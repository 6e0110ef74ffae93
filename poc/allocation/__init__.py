"""Allocation models, their execution and their analytics (pure computation).

Flow, in one direction::

    inputs (snapshot -> prices, benchmark, sectors)
      -> models / optimizer (estimators -> target_weights_)      uses projection, regime, sleeves
      -> execution (targets -> trades, positions, cash, NAV, weights_history)
      -> schema (check_weights_history: caps hold, or a loud error)
      -> analytics (metrics vs benchmark, attribution, rotation, regimes)
    runner.run_allocation(prices, benchmark, AllocationConfig) does all of it.

Timing: a target computed at the close of day ``d`` trades at the close of
``d + 1 + delay``. Weights are long-only fractions of the NAV; ``1 - sum`` is cash.
"""

from __future__ import annotations

from poc.allocation.errors import AllocationError, WeightsHistoryError
from poc.allocation.execution import ExecutionResult, simulate_execution
from poc.allocation.inputs import allocation_inputs, allocation_sectors
from poc.allocation.models import EMAAllocation, RegimeRotation, allocate_scores
from poc.allocation.optimizer import HRPAllocation
from poc.allocation.projection import project_capped_simplex
from poc.allocation.regime import REGIMES, RegimeRules, classify_regimes, regime_features
from poc.allocation.runner import AllocationConfig, AllocationResult, build_model, run_allocation
from poc.allocation.schema import check_weights_history
from poc.allocation.sleeves import DEFAULT_COMPATIBILITY

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "REGIMES",
    "AllocationConfig",
    "AllocationError",
    "AllocationResult",
    "EMAAllocation",
    "ExecutionResult",
    "HRPAllocation",
    "RegimeRotation",
    "RegimeRules",
    "WeightsHistoryError",
    "allocate_scores",
    "allocation_inputs",
    "allocation_sectors",
    "build_model",
    "check_weights_history",
    "classify_regimes",
    "project_capped_simplex",
    "regime_features",
    "run_allocation",
    "simulate_execution",
]
